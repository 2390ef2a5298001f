//! The IAM credential report: CSV (the SDK has decoded the base64 of the wire), one row per
//! user plus `<root_account>`, with the columns AWS documents (`user`, `arn`,
//! `user_creation_time`, `password_enabled`, `password_last_used`, `password_last_changed`,
//! `password_next_rotation`, `mfa_active`, `access_key_{1,2}_active`,
//! `access_key_{1,2}_last_rotated`, `access_key_{1,2}_last_used_date`,
//! `access_key_{1,2}_last_used_region`, `access_key_{1,2}_last_used_service`,
//! `cert_{1,2}_active`, `cert_{1,2}_last_rotated`). Values are kept as the report writes them —
//! `N/A` (no such credential), `no_information` (never used since IAM started tracking),
//! `not_supported` — and the mapper reads them; the report is only split and keyed here.

use std::collections::BTreeMap;

/// The root user's name in the `user` column.
pub const ROOT: &str = "<root_account>";

/// One row: column → value, as written.
pub type Row = BTreeMap<String, String>;

/// Splits the report into rows keyed by ARN (the `arn` column: unique, unlike a name across
/// paths). Quoted fields (RFC 4180) are read as such, though IAM names cannot hold quotes.
///
/// # Errors
/// A report without the `user` and `arn` columns, or a row with another number of fields
/// than the header, names the line.
pub fn parse(csv: &str) -> Result<BTreeMap<String, Row>, String> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header = split(lines.next().ok_or("the credential report is empty")?);
    let arn_at = header.iter().position(|c| c == "arn");
    if arn_at.is_none() || !header.iter().any(|c| c == "user") {
        return Err(format!("the credential report's header has no user and arn columns: {:?}", header.join(",")));
    }
    let arn_at = arn_at.expect("checked");
    let mut rows = BTreeMap::new();
    for (n, line) in lines.enumerate() {
        let fields = split(line);
        if fields.len() != header.len() {
            return Err(format!("credential report line {}: {} fields, the header has {}", n + 2, fields.len(), header.len()));
        }
        let arn = fields[arn_at].clone();
        rows.insert(arn, header.iter().cloned().zip(fields).collect());
    }
    Ok(rows)
}

fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header and rows of AWS's documented example (IAM User Guide, "Getting credential
    /// reports for your AWS account"), with the root row.
    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::123456789012:root,2014-09-01T22:28:48+00:00,not_supported,2014-11-12T23:36:49+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
\"a,b\",arn:aws:iam::123456789012:user/a_b,2014-09-01T22:28:48+00:00,true,no_information,2014-09-03T18:59:00+00:00,N/A,false,true,2014-09-01T22:28:48+00:00,2014-11-02T11:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\r\n";

    #[test]
    fn rows_are_keyed_by_arn_with_values_as_written() {
        let rows = parse(REPORT).unwrap();
        assert_eq!(rows.len(), 2);
        let root = &rows["arn:aws:iam::123456789012:root"];
        assert_eq!((root["user"].as_str(), root["mfa_active"].as_str(), root["password_enabled"].as_str()), (ROOT, "true", "not_supported"));
        let u = &rows["arn:aws:iam::123456789012:user/a_b"];
        assert_eq!((u["user"].as_str(), u["password_last_used"].as_str(), u["access_key_1_last_used_service"].as_str(), u["cert_2_last_rotated"].as_str()), ("a,b", "no_information", "s3", "N/A"));
    }

    #[test]
    fn a_malformed_report_names_what_is_wrong() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("a,b\n1,2").unwrap_err().contains("no user and arn"));
        assert!(parse("user,arn,x\nu,arn:1").unwrap_err().contains("line 2: 2 fields"));
    }
}
