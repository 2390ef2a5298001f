#!/usr/bin/env python3
"""Writes the sample trail under examples/data/cloudtrail/, laid out and formatted exactly as
CloudTrail delivers log files to S3 (AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/, gzip'd
{"Records":[...]}), plus a digest file that trawl must skip.

Records follow the examples in the CloudTrail User Guide ("CloudTrail log file examples",
"CloudTrail userIdentity element", "AWS console sign-in events", data events for S3 and
Lambda). Run it from the repo root: python3 examples/data/make_cloudtrail_sample.py
"""
import gzip, json, os

ACCT = "111122223333"
ROOT = "examples/data/cloudtrail/AWSLogs/%s" % ACCT

iam_user = {"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "arn": "arn:aws:iam::111122223333:user/Mary_Major",
            "accountId": ACCT, "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "Mary_Major"}

def assumed_role(mfa):
    return {"type": "AssumedRole", "principalId": "AROAIDPPEZS35WEXAMPLE:AssumedRoleSessionName",
            "arn": "arn:aws:sts::111122223333:assumed-role/RoleToBeAssumed/MySessionName", "accountId": ACCT,
            "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAIDPPEZS35WEXAMPLE",
                                                 "arn": "arn:aws:iam::111122223333:role/RoleToBeAssumed", "accountId": ACCT, "userName": "RoleToBeAssumed"},
                               "webIdFederationData": {},
                               "attributes": {"creationDate": "2024-01-15T09:58:12Z", "mfaAuthenticated": "true" if mfa else "false"}}}

root = {"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::111122223333:root", "accountId": ACCT, "accessKeyId": ""}

def rec(time, source, name, identity, read_only, req=None, resp=None, **extra):
    r = {"eventVersion": "1.09", "userIdentity": identity, "eventTime": time, "eventSource": source, "eventName": name,
         "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.25", "userAgent": "aws-cli/2.13.5 Python/3.11.4 Linux/4.14.255",
         "requestParameters": req, "responseElements": resp, "requestID": "%s-req" % name.lower(),
         "eventID": None, "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": True,
         "recipientAccountId": ACCT, "eventCategory": "Management",
         "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "%s" % source.replace("amazonaws.com", "us-east-1.amazonaws.com")}}
    r.update(extra)
    return r

file1 = [
    rec("2024-01-15T10:01:02Z", "iam.amazonaws.com", "CreateUser", iam_user, False,
        {"userName": "Richard_Roe"},
        {"user": {"path": "/", "userName": "Richard_Roe", "userId": "AIDA6ON6E4XEGIEXAMPLE", "arn": "arn:aws:iam::111122223333:user/Richard_Roe", "createDate": "Jan 15, 2024 10:01:02 AM"}},
        eventID="0b8a2c3f-1111-4f00-9c4e-000000000001"),
    rec("2024-01-15T10:02:10Z", "ec2.amazonaws.com", "DescribeInstances", assumed_role(True), True,
        {"instancesSet": {}, "filterSet": {}}, None, eventID="0b8a2c3f-1111-4f00-9c4e-000000000002"),
    rec("2024-01-15T10:03:45Z", "iam.amazonaws.com", "AttachRolePolicy", assumed_role(False), False,
        {"roleName": "ReadOnlyAuditor", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None,
        errorCode="AccessDenied",
        errorMessage="User: arn:aws:sts::111122223333:assumed-role/RoleToBeAssumed/MySessionName is not authorized to perform: iam:AttachRolePolicy on resource: role ReadOnlyAuditor because no identity-based policy allows the iam:AttachRolePolicy action",
        eventID="0b8a2c3f-1111-4f00-9c4e-000000000003"),
    rec("2024-01-15T10:04:00Z", "sts.amazonaws.com", "AssumeRole",
        {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, True,
        {"roleArn": "arn:aws:iam::111122223333:role/EC2InstanceRole", "roleSessionName": "i-0123456789abcdef0"},
        {"credentials": {"accessKeyId": "ASIA4EXAMPLEKEY00001", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Jan 15, 2024 4:04:00 PM"}},
        sourceIPAddress="ec2.amazonaws.com", userAgent="ec2.amazonaws.com",
        resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/EC2InstanceRole"}],
        sharedEventID="4e2d7c1b-2222-4f00-9c4e-0000000000aa",
        eventID="0b8a2c3f-1111-4f00-9c4e-000000000004"),
    rec("2024-01-15T10:05:30Z", "s3.amazonaws.com", "DeleteBucket", root, False, {"bucketName": "old-logs-bucket", "Host": "old-logs-bucket.s3.amazonaws.com"}, None,
        eventID="0b8a2c3f-1111-4f00-9c4e-000000000005"),
]
for r in file1:
    r["tlsDetails"] = r.get("tlsDetails")

console_ok = {"eventVersion": "1.09", "userIdentity": iam_user, "eventTime": "2024-01-15T11:00:01Z", "eventSource": "signin.amazonaws.com",
              "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.110",
              "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
              "requestParameters": None, "responseElements": {"ConsoleLogin": "Success"},
              "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"},
              "eventID": "0b8a2c3f-1111-4f00-9c4e-000000000006", "readOnly": False, "eventType": "AwsConsoleSignIn",
              "managementEvent": True, "recipientAccountId": ACCT, "eventCategory": "Management"}
console_fail = {"eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "accountId": ACCT, "accessKeyId": "", "userName": "Mary_Major"},
                "eventTime": "2024-01-15T11:02:17Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": "us-east-1",
                "sourceIPAddress": "203.0.113.77", "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Safari/605.1.15",
                "errorMessage": "Failed authentication", "requestParameters": None, "responseElements": {"ConsoleLogin": "Failure"},
                "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"},
                "eventID": "0b8a2c3f-1111-4f00-9c4e-000000000007", "readOnly": False, "eventType": "AwsConsoleSignIn",
                "managementEvent": True, "recipientAccountId": ACCT, "eventCategory": "Management"}
root_login = dict(console_ok, userIdentity={"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::111122223333:root", "accountId": ACCT, "accessKeyId": ""},
                  eventTime="2024-01-15T11:30:00Z", sourceIPAddress="192.0.2.200", eventID="0b8a2c3f-1111-4f00-9c4e-000000000008",
                  additionalEventData={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"})

s3_get = {"eventVersion": "1.09", "userIdentity": assumed_role(False), "eventTime": "2024-01-16T08:15:00Z", "eventSource": "s3.amazonaws.com",
          "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "10.0.3.15", "userAgent": "[aws-sdk-java/1.12.600 Linux/5.10]",
          "requestParameters": {"bucketName": "finance-reports", "Host": "finance-reports.s3.us-east-1.amazonaws.com", "key": "2024/q4/payroll.csv"},
          "responseElements": None,
          "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLE123/456=", "bytesTransferredOut": 52341},
          "requestID": "8B54B1EXAMPLE", "eventID": "0b8a2c3f-1111-4f00-9c4e-000000000009", "readOnly": True,
          "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::finance-reports/2024/q4/payroll.csv"},
                        {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::finance-reports"}],
          "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": ACCT, "vpcEndpointId": "vpce-1a2b3c4d",
          "eventCategory": "Data"}
s3_put_denied = dict(s3_get, eventName="PutObject", readOnly=False, eventTime="2024-01-16T08:16:30Z", eventID="0b8a2c3f-1111-4f00-9c4e-000000000010",
                     requestID="8B54B2EXAMPLE", errorCode="AccessDenied", errorMessage="Access Denied",
                     requestParameters={"bucketName": "finance-reports", "Host": "finance-reports.s3.us-east-1.amazonaws.com", "key": "2024/q4/payroll-edited.csv"},
                     resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::finance-reports/2024/q4/payroll-edited.csv"},
                                {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::finance-reports"}])
lambda_invoke = {"eventVersion": "1.09", "userIdentity": iam_user, "eventTime": "2024-01-16T08:20:00Z", "eventSource": "lambda.amazonaws.com",
                 "eventName": "Invoke", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.25", "userAgent": "aws-cli/2.13.5",
                 "requestParameters": {"functionName": "arn:aws:lambda:us-east-1:111122223333:function:rotate-keys", "sourceArn": "arn:aws:s3:::finance-reports"},
                 "responseElements": None, "additionalEventData": {"functionVersion": "arn:aws:lambda:us-east-1:111122223333:function:rotate-keys:$LATEST"},
                 "requestID": "a7b6c5d4-3333-4f00-9c4e-000000000011", "eventID": "0b8a2c3f-1111-4f00-9c4e-000000000011", "readOnly": False,
                 "resources": [{"accountId": ACCT, "type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:111122223333:function:rotate-keys"}],
                 "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": ACCT, "eventCategory": "Data"}

def write(day, name, records, gz=True):
    d = "%s/CloudTrail/us-east-1/2024/01/%s" % (ROOT, day)
    os.makedirs(d, exist_ok=True)
    body = json.dumps({"Records": records}, separators=(",", ":")).encode()
    path = "%s/%s_CloudTrail_us-east-1_%s.json%s" % (d, ACCT, name, ".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(body, mtime=0) if gz else body)

write("15", "20240115T1005Z_Mu0KsOhtH1ar15ZZ", file1)
write("15", "20240115T1130Z_T0zmQ4t8bMoyuqa2", [console_ok, console_fail, root_login])
write("16", "20240116T0820Z_pZxnPCS3Pq0Wc1Lm", [s3_get, s3_put_denied, lambda_invoke], gz=False)

dd = "%s/CloudTrail-Digest/us-east-1/2024/01/15" % ROOT
os.makedirs(dd, exist_ok=True)
digest = {"awsAccountId": ACCT, "digestStartTime": "2024-01-15T10:00:00Z", "digestEndTime": "2024-01-15T11:00:00Z",
          "digestS3Bucket": "trail-bucket", "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/15/x.json.gz",
          "newestEventTime": "2024-01-15T10:05:30Z", "oldestEventTime": "2024-01-15T10:01:02Z", "previousDigestS3Bucket": None,
          "digestPublicKeyFingerprint": "a1b2c3d4e5f6", "digestSignatureAlgorithm": "SHA256withRSA",
          "logFiles": [{"s3Bucket": "trail-bucket", "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/15/111122223333_CloudTrail_us-east-1_20240115T1005Z_Mu0KsOhtH1ar15ZZ.json.gz",
                        "hashValue": "9bcd2f9d2c1e", "hashAlgorithm": "SHA-256", "newestEventTime": "2024-01-15T10:05:30Z", "oldestEventTime": "2024-01-15T10:01:02Z"}]}
with open("%s/%s_CloudTrail-Digest_us-east-1_management-trail_us-east-1_20240115T110000Z.json.gz" % (dd, ACCT), "wb") as f:
    f.write(gzip.compress(json.dumps(digest).encode(), mtime=0))
