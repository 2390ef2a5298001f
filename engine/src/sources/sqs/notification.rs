//! The SQS message bodies that announce new S3 objects.
//!
//! Four shapes reach a queue: an S3 event notification (`{"Records":[{"s3":…}]}`, keys
//! form-encoded: `+` is a space), the same wrapped by SNS (`{"Type":"Notification",
//! "Message":"<json>"}`), an EventBridge "Object Created" event (keys not encoded), and
//! CloudTrail's own SNS notification (`{"s3Bucket":…,"s3ObjectKey":[…]}`). S3 also sends an
//! `s3:TestEvent` when a notification is configured.

use serde_json::Value;

/// An object a message announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Bucket.
    pub bucket: String,
    /// Key, decoded.
    pub key: String,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// New objects (possibly none: e.g. only `ObjectRemoved` records).
    Objects(Vec<S3Object>),
    /// `s3:TestEvent`: nothing to do.
    TestEvent,
}

/// Parses a message body.
pub fn parse(body: &str) -> Result<Notification, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("message body is not JSON ({e})"))?;
    parse_value(&v, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Notification, String> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    // SNS envelope: the payload is a JSON string in Message.
    if s(v, "Type").as_deref() == Some("Notification")
        && let Some(inner) = s(v, "Message")
        && depth == 0
    {
        let iv: Value = serde_json::from_str(&inner).map_err(|e| format!("SNS Message is not JSON ({e})"))?;
        return parse_value(&iv, depth + 1);
    }
    if s(v, "Event").as_deref() == Some("s3:TestEvent") {
        return Ok(Notification::TestEvent);
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let name = s(r, "eventName").unwrap_or_default();
            if !name.starts_with("ObjectCreated:") {
                continue;
            }
            let bucket = r.pointer("/s3/bucket/name").and_then(Value::as_str);
            let key = r.pointer("/s3/object/key").and_then(Value::as_str);
            match (bucket, key) {
                (Some(b), Some(k)) => out.push(S3Object { bucket: b.into(), key: form_decode(k).map_err(|e| format!("Records[{i}].s3.object.key: {e}"))? }),
                _ => return Err(format!("Records[{i}] has no s3.bucket.name or s3.object.key")),
            }
        }
        return Ok(Notification::Objects(out));
    }
    if s(v, "source").as_deref() == Some("aws.s3") {
        if s(v, "detail-type").as_deref() != Some("Object Created") {
            return Ok(Notification::Objects(Vec::new()));
        }
        let bucket = v.pointer("/detail/bucket/name").and_then(Value::as_str);
        let key = v.pointer("/detail/object/key").and_then(Value::as_str);
        return match (bucket, key) {
            (Some(b), Some(k)) => Ok(Notification::Objects(vec![S3Object { bucket: b.into(), key: k.into() }])),
            _ => Err("EventBridge event has no detail.bucket.name or detail.object.key".into()),
        };
    }
    if let (Some(b), Some(keys)) = (s(v, "s3Bucket"), v.get("s3ObjectKey").and_then(Value::as_array)) {
        let objects = keys.iter().filter_map(Value::as_str).map(|k| S3Object { bucket: b.clone(), key: k.into() }).collect();
        return Ok(Notification::Objects(objects));
    }
    Err("not an S3 event notification (no Records, EventBridge aws.s3 event or CloudTrail s3ObjectKey)".into())
}

/// Decodes an `application/x-www-form-urlencoded` key: `+` → space, `%XX` → byte.
pub fn form_decode(k: &str) -> Result<String, String> {
    let plus = k.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).decode_utf8().map(|c| c.into_owned()).map_err(|_| format!("{k:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(b: &str, k: &str) -> S3Object {
        S3Object { bucket: b.into(), key: k.into() }
    }

    // From the S3 user guide's event message structure example (keys as S3 encodes them).
    const DIRECT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-west-2","eventTime":"1970-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule","bucket":{"name":"amzn-s3-demo-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::amzn-s3-demo-bucket"},"object":{"key":"AWSLogs%2F111122223333%2FCloudTrail%2Fus-west-2%2F2024%2F01%2F02%2Fmy+file%3A1.json.gz","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}}]}"#;

    #[test]
    fn direct_notification_keys_are_form_decoded() {
        assert_eq!(
            parse(DIRECT).unwrap(),
            Notification::Objects(vec![obj("amzn-s3-demo-bucket", "AWSLogs/111122223333/CloudTrail/us-west-2/2024/01/02/my file:1.json.gz")])
        );
    }

    #[test]
    fn sns_wrapped_notification() {
        let body = serde_json::json!({"Type": "Notification", "MessageId": "a", "TopicArn": "arn:aws:sns:us-west-2:111122223333:t", "Message": DIRECT}).to_string();
        assert!(matches!(parse(&body).unwrap(), Notification::Objects(v) if v.len() == 1));
    }

    #[test]
    fn eventbridge_object_created_keys_are_not_decoded() {
        let body = r#"{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2021-11-12T00:00:00Z","region":"ca-central-1","resources":["arn:aws:s3:::amzn-s3-demo-bucket1"],"detail":{"version":"0","bucket":{"name":"amzn-s3-demo-bucket1"},"object":{"key":"a+b/c%2F.json.gz","size":5,"etag":"b1946ac92492d2347c6235b4d2611184","version-id":"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e","sequencer":"617f08299329d189"},"request-id":"N4N7GDK58NMKJ12R","requester":"123456789012","source-ip-address":"1.2.3.4","reason":"PutObject"}}"#;
        assert_eq!(parse(body).unwrap(), Notification::Objects(vec![obj("amzn-s3-demo-bucket1", "a+b/c%2F.json.gz")]));
    }

    #[test]
    fn test_event_removed_records_and_cloudtrail_sns() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"bucketname","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
        assert_eq!(parse(test).unwrap(), Notification::TestEvent);
        let removed = DIRECT.replace("ObjectCreated:Put", "ObjectRemoved:Delete");
        assert_eq!(parse(&removed).unwrap(), Notification::Objects(vec![]));
        let ct = r#"{"s3Bucket":"trail-bucket","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/f.json.gz"]}"#;
        assert_eq!(parse(ct).unwrap(), Notification::Objects(vec![obj("trail-bucket", "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/f.json.gz")]));
    }

    #[test]
    fn garbage_is_an_error_that_says_why() {
        assert!(parse("not json").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"hello":1}"#).unwrap_err().contains("not an S3 event notification"));
        assert!(parse(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#).unwrap_err().contains("Records[0]"));
    }
}
