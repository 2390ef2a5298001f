//! Log output that never identifies a credential: access key ids (`AKIA…`, `ASIA…`) and session
//! tokens are blanked in every line trawl or a library logs, at any level. The AWS SDK's
//! signing and HTTP logs (debug and trace) name the access key id in the SigV4 credential
//! scope, and trawl's own messages never need it.

use std::{borrow::Cow, io};

/// Blanks access key ids and session-token values in `s`.
pub fn redact(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + 20 <= b.len() {
        let key = (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && !b.get(i + 20).is_some_and(|c| c.is_ascii_alphanumeric())
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if key {
            let o = out.get_or_insert_with(String::new);
            o.push_str(&s[copied..i]);
            o.push_str(&s[i..i + 4]);
            o.push_str("…(redacted)");
            i += 20;
            copied = i;
            continue;
        }
        i += 1;
    }
    // x-amz-security-token: <value> / X-Amz-Security-Token=<value>
    let lower = s.to_ascii_lowercase();
    let mut result = match out {
        Some(mut o) => {
            o.push_str(&s[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(s),
    };
    if lower.contains("x-amz-security-token") {
        let text = result.into_owned();
        let lower = text.to_ascii_lowercase();
        let mut o = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(j) = lower[at..].find("x-amz-security-token") {
            let name_end = at + j + "x-amz-security-token".len();
            let value_start = name_end + text[name_end..].bytes().take_while(|c| matches!(c, b':' | b'=' | b' ' | b'"' | b'\'')).count();
            let value_end = value_start + text[value_start..].bytes().take_while(|c| !matches!(c, b' ' | b'"' | b'\'' | b',' | b'&' | b'}' | b'\n' | b')')).count();
            o.push_str(&text[at..value_start]);
            if value_end > value_start {
                o.push_str("(redacted)");
            }
            at = value_end;
        }
        o.push_str(&text[at..]);
        result = Cow::Owned(o);
    }
    result
}

/// stderr, redacted: the writer of trawl's logs.
pub struct RedactingStderr;

impl io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing's fmt layer writes one whole event per call, so a key never straddles calls.
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_and_session_tokens_are_blanked_and_the_rest_kept() {
        let line = "signing with Credential=AKIAIOSFODNN7EXAMPLE/20240115/us-east-1/s3/aws4_request, temp ASIAQWERTYUIOPASDFGH; x-amz-security-token: IQoJb3JpZ2luX2VjEJr/xyz== done";
        let r = redact(line);
        assert_eq!(
            r,
            "signing with Credential=AKIA…(redacted)/20240115/us-east-1/s3/aws4_request, temp ASIA…(redacted); x-amz-security-token: (redacted) done"
        );
        assert!(matches!(redact("nothing to hide: AKIA is a prefix, AKIAshort"), Cow::Borrowed(_)));
        assert_eq!(redact("X-Amz-Security-Token=abc&X-Amz-Date=1"), "X-Amz-Security-Token=(redacted)&X-Amz-Date=1");
        // A principal id is not a credential; a longer word is not a key id.
        assert_eq!(redact("AIDACKCEVSQ6C2EXAMPLE XAKIAIOSFODNN7EXAMPLE"), "AIDACKCEVSQ6C2EXAMPLE XAKIAIOSFODNN7EXAMPLE");
    }
}
