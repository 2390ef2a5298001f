#!/usr/bin/env python3
"""Writes examples/data/cloudtrail-variations/: CloudTrail records that exercise the real-world
variations a reader and a mapper must survive (identities, field shapes, Insights events), in
every container users hand over (log files as CloudTrail delivers them, an Insights file, one
event, NDJSON, a bare array, CloudWatch Logs subscription messages). What each file and record
exercises, and the AWS documentation it follows: cloudtrail-variations/README.md.

Records follow the CloudTrail User Guide: "CloudTrail record contents for management, data, and
network activity events", "CloudTrail userIdentity element", "AWS console sign-in events",
"CloudTrail record contents for Insights events for trails", and the CloudWatch Logs User Guide
("Subscription filters", the log data format). Account 111122223333, documentation IP ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), times in October 2024.

Run it from the repo root: python3 examples/data/make_cloudtrail_variations.py
"""
import gzip, hashlib, json, os, uuid

ACCT = "111122223333"
OUT = "examples/data/cloudtrail-variations"
TRAIL = "%s/AWSLogs/%s/CloudTrail/us-east-1/2024/10/08" % (OUT, ACCT)
INSIGHT = "%s/AWSLogs/%s/CloudTrail-Insight/us-east-1/2024/10/08" % (OUT, ACCT)


def uid(name):
    """A random-looking (version 4) UUID that is the same on every run."""
    return str(uuid.UUID(bytes=hashlib.sha256(name.encode()).digest()[:16], version=4))


CLI = "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.102-108.177.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#%s"
BOTO = "Boto3/1.35.20 md/Botocore#1.35.20 ua/2.0 os/linux#5.10.225-213.878.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.20"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15"


def tls(host, version="TLSv1.3", suite="TLS_AES_128_GCM_SHA256"):
    return {"tlsVersion": version, "cipherSuite": suite, "clientProvidedHostHeader": host}


def event(name, time, source, event_name, identity, req=None, resp=None, region="us-east-1", ip="198.51.100.25",
          agent=None, read_only=False, category="Management", recipient=ACCT, **extra):
    """A record with the fields of the record contents page, in CloudTrail's own order."""
    r = {"eventVersion": "1.09"}
    if identity is not None:
        r["userIdentity"] = identity
    r.update({"eventTime": time, "eventSource": source, "eventName": event_name, "awsRegion": region,
              "sourceIPAddress": ip, "userAgent": agent or CLI % event_name.lower(),
              "requestParameters": req, "responseElements": resp,
              "requestID": extra.pop("requestID", uid(name + "/request")), "eventID": uid(name),
              "readOnly": read_only, "eventType": extra.pop("eventType", "AwsApiCall"),
              "managementEvent": category == "Management", "recipientAccountId": recipient,
              "eventCategory": category})
    host = source.replace(".amazonaws.com", ".%s.amazonaws.com" % region)
    r["tlsDetails"] = tls(host)
    r.update(extra)
    return {k: v for k, v in r.items() if v is not Ellipsis}


def iam_user(name="Mary_Major", acct=ACCT, partition="aws", key="AKIAIOSFODNN7EXAMPLE", principal="AIDACKCEVSQ6C2EXAMPLE"):
    return {"type": "IAMUser", "principalId": principal, "arn": "arn:%s:iam::%s:user/%s" % (partition, acct, name),
            "accountId": acct, "accessKeyId": key, "userName": name}


def assumed_role(role="Admin", session="Mary_Major", acct=ACCT, partition="aws", mfa=False, created="2024-10-08T15:58:12Z", **ctx):
    session_context = {"sessionIssuer": {"type": "Role", "principalId": "AROA3EXAMPLEROLEID123",
                                         "arn": "arn:%s:iam::%s:role/%s" % (partition, acct, role), "accountId": acct, "userName": role}}
    session_context.update(ctx)
    session_context["attributes"] = {"creationDate": created, "mfaAuthenticated": "true" if mfa else "false"}
    return {"type": "AssumedRole", "principalId": "AROA3EXAMPLEROLEID123:%s" % session,
            "arn": "arn:%s:sts::%s:assumed-role/%s/%s" % (partition, acct, role, session), "accountId": acct,
            "accessKeyId": "ASIA3EXAMPLESESSION1", "sessionContext": session_context}


ROOT_ID = {"type": "Root", "principalId": ACCT, "arn": "arn:aws:iam::111122223333:root", "accountId": ACCT, "accessKeyId": ""}
LOGIN_TO = "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_a1b2c3d4e5f6a7b8"


# --- Identities (a log file as CloudTrail delivers it) --------------------------------------
identities = [
    # userIdentity without a type (older events and some service-made records).
    event("id-no-type", "2024-10-08T16:01:04Z", "ec2.amazonaws.com", "DescribeRegions",
          {"principalId": "AIDACKCEVSQ6C2EXAMPLE", "arn": "arn:aws:iam::111122223333:user/Mary_Major", "accountId": ACCT,
           "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "Mary_Major"},
          {"regionSet": {}, "allRegions": False}, None, read_only=True),
    # SAMLUser with nothing but userName.
    event("id-saml-username-only", "2024-10-08T16:01:40Z", "sts.amazonaws.com", "AssumeRoleWithSAML",
          {"type": "SAMLUser", "userName": "alice@example.com"},
          {"sAMLAssertionID": "_c0046cEXAMPLEb9d4b8eEXAMPLE2619aEXAMPLE", "roleSessionName": "alice@example.com",
           "principalArn": "arn:aws:iam::111122223333:saml-provider/ExampleIdP", "roleArn": "arn:aws:iam::111122223333:role/SAML-Readonly", "durationSeconds": 3600},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLESAML0001", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLESAML", "expiration": "Oct 8, 2024, 5:01:40 PM"},
           "assumedRoleUser": {"assumedRoleId": "AROA3EXAMPLESAMLROLE:alice@example.com", "arn": "arn:aws:sts::111122223333:assumed-role/SAML-Readonly/alice@example.com"},
           "subject": "alice@example.com", "subjectType": "persistent", "issuer": "https://idp.example.com/saml",
           "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": "SbdGOnUkh1i4+EXAMPLExL/jEvs="},
          ip="203.0.113.64", agent="aws-internal/3 aws-sdk-java/1.12.746 Linux/5.10.225 OpenJDK_64-Bit_Server_VM/25.422-b06 java/1.8.0_422",
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/SAML-Readonly"},
                     {"accountId": ACCT, "type": "AWS::IAM::SAMLProvider", "ARN": "arn:aws:iam::111122223333:saml-provider/ExampleIdP"}],
          sharedEventID=uid("id-saml-username-only/shared")),
    # WebIdentityUser (GitHub Actions OIDC), with sessionContext.webIdFederationData.
    event("id-web-identity", "2024-10-08T16:02:05Z", "sts.amazonaws.com", "AssumeRoleWithWebIdentity",
          {"type": "WebIdentityUser",
           "principalId": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:example-org/deploy:ref:refs/heads/main",
           "userName": "repo:example-org/deploy:ref:refs/heads/main",
           "identityProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
           "sessionContext": {"webIdFederationData": {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
                                                      "attributes": {}},
                              "attributes": {"creationDate": "2024-10-08T16:02:05Z", "mfaAuthenticated": "false"}}},
          {"roleArn": "arn:aws:iam::111122223333:role/GitHubDeploy", "roleSessionName": "GitHubActions", "durationSeconds": 3600},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLEOIDC0001", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLEOIDC", "expiration": "Oct 8, 2024, 5:02:05 PM"},
           "subjectFromWebIdentityToken": "repo:example-org/deploy:ref:refs/heads/main",
           "assumedRoleUser": {"assumedRoleId": "AROA3EXAMPLEOIDCROLE:GitHubActions", "arn": "arn:aws:sts::111122223333:assumed-role/GitHubDeploy/GitHubActions"},
           "provider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com", "audience": "sts.amazonaws.com"},
          ip="192.0.2.44", agent="aws-sdk-js/3.664.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.17.0 api/sts#3.664.0 configure-aws-credentials-for-github-actions",
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/GitHubDeploy"}],
          sharedEventID=uid("id-web-identity/shared")),
    # IdentityCenterUser: arn is empty; the user is in onBehalfOf.
    event("id-identity-center", "2024-10-08T16:03:11Z", "qbusiness.amazonaws.com", "ChatSync",
          {"type": "IdentityCenterUser", "arn": "", "accountId": ACCT,
           "onBehalfOf": {"userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                          "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"},
           "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"},
          {"applicationId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}, None,
          ip="198.51.100.91", agent=FIREFOX),
    # AWSAccount: another account reads an object (data event).
    event("id-aws-account", "2024-10-08T16:04:00Z", "s3.amazonaws.com", "GetObject",
          {"type": "AWSAccount", "principalId": "AIDAJ45Q7YFFAREXAMPLE", "accountId": "444455556666"},
          {"bucketName": "shared-datasets", "Host": "shared-datasets.s3.us-east-1.amazonaws.com", "key": "2024/10/export.parquet"}, None,
          ip="203.0.113.12", agent="[aws-sdk-java/2.28.16 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS]", read_only=True, category="Data",
          requestID="3E7C2A1B9D5F4E60",
          additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                               "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLEnZ3G5cmkzmT5d0L0sOGxAKzrG0pQ=", "bytesTransferredOut": 1048576},
          resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::shared-datasets/2024/10/export.parquet"},
                     {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::shared-datasets"}],
          sharedEventID=uid("id-aws-account/shared")),
    # AWSAccount without a principal: an anonymous request; the account id is not digits at all.
    event("id-anonymous", "2024-10-08T16:04:30Z", "s3.amazonaws.com", "GetObject",
          {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"},
          {"bucketName": "public-site", "Host": "public-site.s3.us-east-1.amazonaws.com", "key": "index.html"}, None,
          ip="203.0.113.200", agent=SAFARI, read_only=True, category="Data", requestID="9A1F0C2D3E4B5A69",
          additionalEventData={"SignatureVersion": "", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                               "AuthenticationMethod": "", "x-amz-id-2": "EXAMPLEa8oQjGk0nHLuoKpt/ZfQ3l1Pp5hM=", "bytesTransferredOut": 5120},
          resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::public-site/index.html"},
                     {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::public-site"}]),
    # Unknown: an IAM Identity Center sign-in step.
    event("id-unknown", "2024-10-08T16:05:17Z", "signin.amazonaws.com", "CredentialChallenge",
          {"type": "Unknown", "principalId": ACCT, "arn": "", "accountId": ACCT, "accessKeyId": "", "userName": "alice"},
          None, None, ip="198.51.100.91", agent=FIREFOX, eventType="AwsServiceEvent", requestID=...,
          serviceEventDetails={"CredentialChallenge": "Success"},
          additionalEventData={"AuthWorkflowID": "9de74b32-8362-4a01-a524-EXAMPLE11111", "CredentialType": "PASSWORD"}),
    # AWSService: a service acting on its own, invokedBy; sourceIPAddress is the service's hostname.
    event("id-aws-service", "2024-10-08T16:06:00Z", "kms.amazonaws.com", "GenerateDataKey",
          {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
          {"keyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "keySpec": "AES_256",
           "encryptionContext": {"aws:cloudtrail:arn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events",
                                 "aws:s3:arn": "arn:aws:s3:::trail-bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2024/10/08/111122223333_CloudTrail_us-east-1_20241008T1605Z_x.json.gz"}},
          None, ip="cloudtrail.amazonaws.com", agent="cloudtrail.amazonaws.com", read_only=True,
          resources=[{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
          sharedEventID=uid("id-aws-service/shared"), tlsDetails=...),
    # FederatedUser: credentials from GetFederationToken.
    event("id-federated", "2024-10-08T16:07:21Z", "s3.amazonaws.com", "ListBuckets",
          {"type": "FederatedUser", "principalId": "111122223333:Bob", "arn": "arn:aws:sts::111122223333:federated-user/Bob",
           "accountId": ACCT, "accessKeyId": "ASIA3EXAMPLEFEDERATD",
           "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE",
                                                "arn": "arn:aws:iam::111122223333:user/Mary_Major", "accountId": ACCT, "userName": "Mary_Major"},
                              "webIdFederationData": {},
                              "attributes": {"creationDate": "2024-10-08T16:00:00Z", "mfaAuthenticated": "false"}}},
          {"Host": "s3.amazonaws.com"}, None, ip="192.0.2.15", read_only=True, requestID="7F3B2C9D1E0A4B85",
          additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                               "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLEQ8v0bYlq4aIhXm0Z7Cw2S4uj1Jy0=", "bytesTransferredOut": 2874}),
    # Account ids that are not 12 digits, as public samples have them: redacted, 9 and 13 digits.
    event("id-account-redacted", "2024-10-08T16:08:00Z", "iam.amazonaws.com", "ListUsers",
          iam_user("ops-audit", acct="redacted"), {"maxItems": 100}, None, read_only=True, recipient="redacted"),
    event("id-account-9-digits", "2024-10-08T16:08:30Z", "iam.amazonaws.com", "ListRoles",
          iam_user("ops-audit", acct="123456789"), {"maxItems": 100}, None, read_only=True),
    event("id-account-13-digits", "2024-10-08T16:09:00Z", "iam.amazonaws.com", "ListPolicies",
          iam_user("ops-audit", acct="1234567890123"), {"scope": "Local", "onlyAttached": False}, None, read_only=True),
]

# --- Field shapes -------------------------------------------------------------------------------
fields = [
    # sourceIPAddress is a service's hostname: a forward-access session through Athena.
    event("f-ip-hostname", "2024-10-08T16:20:02Z", "s3.amazonaws.com", "GetBucketLocation",
          dict(assumed_role("DataAnalyst", "alice"), invokedBy="athena.amazonaws.com"),
          {"bucketName": "datalake-curated", "Host": "datalake-curated.s3.us-east-1.amazonaws.com", "location": ""}, None,
          ip="athena.amazonaws.com", agent="athena.amazonaws.com", read_only=True, requestID="5B0E3F6A7C8D9E12",
          additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                               "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLE0d8VjYf3bZg6Yq4M3gL0Hq8x2R1k=", "bytesTransferredOut": 137},
          resources=[{"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::datalake-curated"}]),
    # "AWS Internal" as the source address and the user agent.
    event("f-ip-aws-internal", "2024-10-08T16:21:30Z", "iam.amazonaws.com", "GetAccountSummary",
          assumed_role("AWSServiceRoleForAccessAnalyzer", "access-analyzer"), None, None,
          ip="AWS Internal", agent="AWS Internal", read_only=True),
    # Two addresses separated by a comma (a proxy chain).
    event("f-ip-two", "2024-10-08T16:22:45Z", "s3.amazonaws.com", "PutObject", assumed_role("Uploader", "batch-7"),
          {"bucketName": "ingest-raw", "Host": "ingest-raw.s3.us-east-1.amazonaws.com", "key": "drop/2024-10-08/part-0001.csv"}, None,
          ip="198.51.100.7, 10.10.4.12", agent=BOTO, category="Data", requestID="C1D2E3F4A5B6C7D8",
          additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 24576,
                               "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLEt9LZ0d7Yxq5u1N4gS2M8pR3kV6b=", "bytesTransferredOut": 0},
          resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::ingest-raw/drop/2024-10-08/part-0001.csv"},
                     {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::ingest-raw"}]),
    # An IPv6 source address; tlsVersion without "TLSv".
    event("f-ip-v6", "2024-10-08T16:23:10Z", "ec2.amazonaws.com", "DescribeSecurityGroups", iam_user(),
          {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}}, None,
          ip="2001:db8:85a3::8a2e:370:7334", read_only=True, tlsDetails=tls("ec2.us-east-1.api.aws", "1.3")),
    # errorCode "200": not a failure.
    event("f-error-200", "2024-10-08T16:24:00Z", "ec2.amazonaws.com", "DescribeAddresses", iam_user(),
          {"filterSet": {}, "publicIpsSet": {}, "allocationIdsSet": {}}, None, read_only=True, errorCode="200"),
    # Dates inside request parameters in two more shapes.
    event("f-date-compact", "2024-10-08T16:25:00Z", "ec2.amazonaws.com", "DescribeSpotPriceHistory", iam_user(),
          {"startTime": "20131102T010628Z", "endTime": "20131102T020628Z", "instanceTypeSet": {"items": [{"instanceType": "m5.large"}]},
           "productDescriptionSet": {"items": [{"productDescription": "Linux/UNIX"}]}}, None, read_only=True),
    event("f-date-words", "2024-10-08T16:25:40Z", "cloudtrail.amazonaws.com", "LookupEvents", iam_user(),
          {"startTime": "Oct 8, 2024, 4:15:32 PM", "endTime": "Oct 8, 2024, 5:15:32 PM", "maxResults": 50,
           "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}]}, None, read_only=True),
    # An ordinary API call with resources[] and a VPC endpoint; the caller's session is from 2013 (compact date).
    event("f-vpc-endpoint", "2024-10-08T16:26:12Z", "kms.amazonaws.com", "Decrypt",
          assumed_role("AppServer", "i-0a1b2c3d4e5f67890", created="20131102T010628Z"),
          {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, None,
          ip="10.0.12.34", agent=BOTO, read_only=True, vpcEndpointId="vpce-0a1b2c3d4e5f67890", vpcEndpointAccountId=ACCT,
          resources=[{"accountId": ACCT, "type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
          tlsDetails=tls("kms.us-east-1.amazonaws.com", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")),
    # A data event: S3 GetObject with its object and bucket resources, through a gateway endpoint.
    event("f-data-get-object", "2024-10-08T16:27:03Z", "s3.amazonaws.com", "GetObject", assumed_role("AppServer", "i-0a1b2c3d4e5f67890"),
          {"bucketName": "finance-reports", "Host": "finance-reports.s3.us-east-1.amazonaws.com", "key": "2024/q3/payroll.csv"}, None,
          ip="10.0.12.34", agent="[aws-sdk-java/1.12.746 Linux/5.10]", read_only=True, category="Data", requestID="8B54B1EXAMPLE0A7C",
          additionalEventData={"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                               "AuthenticationMethod": "AuthHeader", "x-amz-id-2": "EXAMPLE123/456=", "bytesTransferredOut": 52341},
          resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::finance-reports/2024/q3/payroll.csv"},
                     {"accountId": ACCT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::finance-reports"}],
          vpcEndpointId="vpce-1a2b3c4d", vpcEndpointAccountId=ACCT),
]

# --- IAM and STS changes, with an Insights pair in the same log file -----------------------------
INSIGHT_SHARED = uid("insight-iam-rate/shared")


def insight(name, time, state, source, event_name, kind, shared, baseline, rate, duration, error=None, attributions=None):
    details = {"state": state, "eventSource": source, "eventName": event_name, "insightType": kind}
    if error:
        details["errorCode"] = error
    details["insightContext"] = {"statistics": {"baseline": {"average": baseline}, "insight": {"average": rate},
                                                "insightDuration": duration, "baselineDuration": 10080},
                                 "attributions": attributions or []}
    return {"eventVersion": "1.07", "eventTime": time, "awsRegion": "us-east-1", "eventID": uid(name),
            "eventType": "AwsCloudTrailInsight", "recipientAccountId": ACCT, "sharedEventID": shared,
            "insightDetails": details, "eventCategory": "Insight"}


def attribution(attribute, insight_values, baseline_values):
    return {"attribute": attribute, "insight": [{"value": v, "average": a} for v, a in insight_values],
            "baseline": [{"value": v, "average": a} for v, a in baseline_values]}


iam_sts = [
    event("iam-create-user", "2024-10-08T16:40:01Z", "iam.amazonaws.com", "CreateUser", iam_user(),
          {"userName": "Richard_Roe", "tags": [{"key": "team", "value": "payments"}]},
          {"user": {"path": "/", "userName": "Richard_Roe", "userId": "AIDA6ON6E4XEGIEXAMPLE", "arn": "arn:aws:iam::111122223333:user/Richard_Roe",
                    "createDate": "Oct 8, 2024, 4:40:01 PM", "tags": [{"key": "team", "value": "payments"}]}},
          tlsDetails=tls("iam.amazonaws.com")),
    event("iam-attach-role-policy", "2024-10-08T16:40:45Z", "iam.amazonaws.com", "AttachRolePolicy", assumed_role("Admin", "Mary_Major", mfa=True),
          {"roleName": "ReadOnlyAuditor", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, None,
          ip="192.0.2.10", agent=FIREFOX, tlsDetails=tls("iam.amazonaws.com")),
    event("iam-delete-role", "2024-10-08T16:41:30Z", "iam.amazonaws.com", "DeleteRole", assumed_role("Admin", "Mary_Major", mfa=True),
          {"roleName": "LegacyBatchRole"}, None, ip="192.0.2.10", agent=FIREFOX, tlsDetails=tls("iam.amazonaws.com")),
    event("iam-create-access-key-root", "2024-10-08T16:42:02Z", "iam.amazonaws.com", "CreateAccessKey", ROOT_ID,
          None, {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "status": "Active", "userName": ACCT, "createDate": "Oct 8, 2024, 4:42:02 PM"}},
          ip="203.0.113.55", agent=SAFARI, tlsDetails=tls("iam.amazonaws.com")),
    event("iam-put-user-policy", "2024-10-08T16:42:40Z", "iam.amazonaws.com", "PutUserPolicy", iam_user(),
          {"userName": "Richard_Roe", "policyName": "inline-s3-write",
           "policyDocument": "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]\n}"},
          None, tlsDetails=tls("iam.amazonaws.com")),
    event("iam-change-password", "2024-10-08T16:43:15Z", "iam.amazonaws.com", "ChangePassword",
          iam_user("Richard_Roe", key="ASIA3EXAMPLECONSOLE1", principal="AIDA6ON6E4XEGIEXAMPLE"), None, None,
          ip="198.51.100.140", agent=FIREFOX, tlsDetails=tls("iam.amazonaws.com")),
    event("sts-assume-role", "2024-10-08T16:44:00Z", "sts.amazonaws.com", "AssumeRole", iam_user(),
          {"roleArn": "arn:aws:iam::111122223333:role/Admin", "roleSessionName": "Mary_Major", "durationSeconds": 3600,
           "serialNumber": "arn:aws:iam::111122223333:mfa/Mary_Major", "tokenCode": "HIDDEN_DUE_TO_SECURITY_REASONS"},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLESESSION1", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLEROLE", "expiration": "Oct 8, 2024, 5:44:00 PM"},
           "assumedRoleUser": {"assumedRoleId": "AROA3EXAMPLEROLEID123:Mary_Major", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/Mary_Major"}},
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/Admin"}],
          sharedEventID=uid("sts-assume-role/shared")),
    # AssumeRoleWithSAML by a SAMLUser as the userIdentity page shows it.
    event("sts-assume-role-with-saml", "2024-10-08T16:44:30Z", "sts.amazonaws.com", "AssumeRoleWithSAML",
          {"type": "SAMLUser", "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample", "userName": "SamlExample",
           "identityProvider": "bdGOnTesti4+ExamplexL/jEvs="},
          {"sAMLAssertionID": "_c0046cEXAMPLEb9d4b8eEXAMPLE2619aEXAMPLE", "roleSessionName": "MyAssignedRoleSessionName",
           "principalArn": "arn:aws:iam::111122223333:saml-provider/Shibboleth", "roleArn": "arn:aws:iam::111122223333:role/SAMLTestRoleShibboleth",
           "durationSeconds": 3600},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLESAML0002", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLESAM2", "expiration": "Oct 8, 2024, 5:44:30 PM"},
           "assumedRoleUser": {"assumedRoleId": "AROAD35QRSTUVWEXAMPLE:MyAssignedRoleSessionName",
                               "arn": "arn:aws:sts::111122223333:assumed-role/SAMLTestRoleShibboleth/MyAssignedRoleSessionName"},
           "subject": "SamlExample", "subjectType": "transient", "issuer": "https://server.example.com/idp/shibboleth",
           "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": "SbdGOnUkh1i4+EXAMPLExL/jEvs="},
          ip="192.0.2.101", agent="aws-internal/3 aws-sdk-java/1.12.746",
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/SAMLTestRoleShibboleth"},
                     {"accountId": ACCT, "type": "AWS::IAM::SAMLProvider", "ARN": "arn:aws:iam::111122223333:saml-provider/Shibboleth"}],
          sharedEventID=uid("sts-assume-role-with-saml/shared")),
    # AssumeRoleWithWebIdentity by a WebIdentityUser as the userIdentity page shows it (no sessionContext).
    event("sts-assume-role-with-web-identity", "2024-10-08T16:45:05Z", "sts.amazonaws.com", "AssumeRoleWithWebIdentity",
          {"type": "WebIdentityUser", "principalId": "accounts.google.com:123456789012-abcdefgh.apps.googleusercontent.com:108765432109876543210",
           "userName": "108765432109876543210", "identityProvider": "accounts.google.com"},
          {"roleArn": "arn:aws:iam::111122223333:role/MobileAppUser", "roleSessionName": "app-session-108765", "durationSeconds": 3600},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLEGOOGLE01", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLEGOOG", "expiration": "Oct 8, 2024, 5:45:05 PM"},
           "subjectFromWebIdentityToken": "108765432109876543210",
           "assumedRoleUser": {"assumedRoleId": "AROA3EXAMPLEMOBILE01:app-session-108765", "arn": "arn:aws:sts::111122223333:assumed-role/MobileAppUser/app-session-108765"},
           "provider": "accounts.google.com", "audience": "123456789012-abcdefgh.apps.googleusercontent.com"},
          ip="203.0.113.33", agent="aws-sdk-kotlin/1.3.40 ua/2.1 api/sts#1.3.40 os/android#34 lang/kotlin#2.0.20",
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws:iam::111122223333:role/MobileAppUser"}],
          sharedEventID=uid("sts-assume-role-with-web-identity/shared")),
    event("sts-get-session-token", "2024-10-08T16:46:00Z", "sts.amazonaws.com", "GetSessionToken", iam_user(),
          {"durationSeconds": 43200, "serialNumber": "arn:aws:iam::111122223333:mfa/Mary_Major", "tokenCode": "HIDDEN_DUE_TO_SECURITY_REASONS"},
          {"credentials": {"accessKeyId": "ASIA3EXAMPLESESSTOK1", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLESESS", "expiration": "Oct 9, 2024, 4:46:00 AM"}},
          read_only=True),
    # Insights Start and End (the same sharedEventID) among ordinary events, as a trail with Insights can deliver them.
    insight("insight-iam-rate-start", "2024-10-08T16:47:00Z", "Start", "iam.amazonaws.com", "CreateAccessKey", "ApiCallRateInsight",
            INSIGHT_SHARED, 0.0119047619, 6.0, 1,
            attributions=[attribution("userIdentityArn", [("arn:aws:iam::111122223333:root", 6.0)], [("arn:aws:iam::111122223333:user/Mary_Major", 0.0119047619)]),
                          attribution("userAgent", [(SAFARI, 6.0)], [(CLI % "createaccesskey", 0.0119047619)]),
                          attribution("errorCode", [("null", 6.0)], [("null", 0.0119047619)])]),
    insight("insight-iam-rate-end", "2024-10-08T16:53:00Z", "End", "iam.amazonaws.com", "CreateAccessKey", "ApiCallRateInsight",
            INSIGHT_SHARED, 0.0119047619, 2.1666666667, 6,
            attributions=[attribution("userIdentityArn", [("arn:aws:iam::111122223333:root", 2.1666666667)], [("arn:aws:iam::111122223333:user/Mary_Major", 0.0119047619)]),
                          attribution("userAgent", [(SAFARI, 2.1666666667)], [(CLI % "createaccesskey", 0.0119047619)]),
                          attribution("errorCode", [("null", 2.1666666667)], [("null", 0.0119047619)])]),
]

# --- Console sign-in ------------------------------------------------------------------------------
def signin(name, time, identity, result, mfa, ip, agent, **extra):
    return event(name, time, "signin.amazonaws.com", "ConsoleLogin", identity, None, {"ConsoleLogin": result},
                 ip=ip, agent=agent, eventType="AwsConsoleSignIn", requestID=...,
                 additionalEventData={"LoginTo": LOGIN_TO, "MobileVersion": "No", "MFAUsed": mfa},
                 tlsDetails=tls("us-east-1.signin.aws.amazon.com", "TLSv1.3", "TLS_AES_128_GCM_SHA256"), **extra)


console = [
    signin("console-root-success", "2024-10-08T17:00:04Z", ROOT_ID, "Success", "Yes", "203.0.113.55", SAFARI),
    # Failed: errorMessage, and no errorCode.
    signin("console-failure", "2024-10-08T17:01:12Z",
           {"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "accountId": ACCT, "accessKeyId": "", "userName": "Mary_Major"},
           "Failure", "No", "198.51.100.201", FIREFOX, errorMessage="Failed authentication"),
    # MFAUsed as a boolean.
    signin("console-mfa-boolean", "2024-10-08T17:01:50Z", dict(iam_user(), accessKeyId=""), "Success", True, "192.0.2.10", FIREFOX),
    event("console-check-mfa", "2024-10-08T17:01:45Z", "signin.amazonaws.com", "CheckMfa", dict(iam_user(), accessKeyId=""),
          None, {"CheckMfa": "Success"}, ip="192.0.2.10", agent=FIREFOX, eventType="AwsConsoleSignIn", requestID=...,
          additionalEventData={"MfaType": "Virtual MFA"}, tlsDetails=tls("us-east-1.signin.aws.amazon.com")),
]

# --- Insights file (CloudTrail-Insight/) -------------------------------------------------------------
ERR_SHARED = uid("insight-ec2-errors/shared")
insight_file = [
    insight("insight-ec2-errors-start", "2024-10-08T17:31:00Z", "Start", "ec2.amazonaws.com", "StartInstances", "ApiErrorRateInsight",
            ERR_SHARED, 0.0002976190, 12.0, 1, error="UnauthorizedOperation",
            attributions=[attribution("userIdentityArn", [("arn:aws:sts::111122223333:assumed-role/Uploader/batch-7", 12.0)],
                                      [("arn:aws:sts::111122223333:assumed-role/Admin/Mary_Major", 0.0002976190)]),
                          attribution("userAgent", [(BOTO, 12.0)], [(CLI % "startinstances", 0.0002976190)]),
                          attribution("errorCode", [("UnauthorizedOperation", 12.0)], [("UnauthorizedOperation", 0.0002976190)])]),
    insight("insight-ec2-errors-end", "2024-10-08T17:42:00Z", "End", "ec2.amazonaws.com", "StartInstances", "ApiErrorRateInsight",
            ERR_SHARED, 0.0002976190, 4.3636363636, 11, error="UnauthorizedOperation",
            attributions=[attribution("userIdentityArn", [("arn:aws:sts::111122223333:assumed-role/Uploader/batch-7", 4.3636363636)],
                                      [("arn:aws:sts::111122223333:assumed-role/Admin/Mary_Major", 0.0002976190)]),
                          attribution("userAgent", [(BOTO, 4.3636363636)], [(CLI % "startinstances", 0.0002976190)]),
                          attribution("errorCode", [("UnauthorizedOperation", 4.3636363636)], [("UnauthorizedOperation", 0.0002976190)])]),
]

# --- Other containers --------------------------------------------------------------------------------
# One event per file: GovCloud.
GOV = "111122223333"
govcloud_event = event("gov-attach-user-policy", "2024-10-08T18:00:09Z", "iam.amazonaws.com", "AttachUserPolicy",
                       iam_user("gov-admin", acct=GOV, partition="aws-us-gov", principal="AIDAGOVEXAMPLE000001", key="AKIAGOVEXAMPLE000001"),
                       {"userName": "gov-analyst", "policyArn": "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"}, None,
                       region="us-gov-west-1", ip="192.0.2.77", tlsDetails=tls("iam.us-gov.amazonaws.com"))

# NDJSON: China (aws-cn) events, as a CLI export would write them.
china = [
    event("cn-run-instances", "2024-10-08T18:10:00Z", "ec2.amazonaws.com", "RunInstances",
          assumed_role("Ops", "deployer", partition="aws-cn"),
          {"instancesSet": {"items": [{"imageId": "ami-0123456789abcdef0", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro"},
          {"requestId": uid("cn-run-instances/request"), "reservationId": "r-0123456789abcdef0", "ownerId": ACCT,
           "instancesSet": {"items": [{"instanceId": "i-0fedcba9876543210", "imageId": "ami-0123456789abcdef0"}]}},
          region="cn-north-1", ip="198.51.100.88", tlsDetails=tls("ec2.cn-north-1.amazonaws.com.cn")),
    event("cn-assume-role", "2024-10-08T18:09:30Z", "sts.amazonaws.com", "AssumeRole",
          iam_user("deployer", partition="aws-cn", principal="AIDACNEXAMPLE0000001", key="AKIACNEXAMPLE0000001"),
          {"roleArn": "arn:aws-cn:iam::111122223333:role/Ops", "roleSessionName": "deployer"},
          {"credentials": {"accessKeyId": "ASIACNEXAMPLE0000001", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLECN01", "expiration": "Oct 8, 2024, 7:09:30 PM"},
           "assumedRoleUser": {"assumedRoleId": "AROA3EXAMPLEROLEID123:deployer", "arn": "arn:aws-cn:sts::111122223333:assumed-role/Ops/deployer"}},
          region="cn-north-1", ip="198.51.100.88",
          resources=[{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": "arn:aws-cn:iam::111122223333:role/Ops"}],
          sharedEventID=uid("cn-assume-role/shared"), tlsDetails=tls("sts.cn-north-1.amazonaws.com.cn")),
    event("cn-create-user", "2024-10-08T18:11:20Z", "iam.amazonaws.com", "CreateUser", assumed_role("Ops", "deployer", partition="aws-cn"),
          {"userName": "cn-service"},
          {"user": {"path": "/", "userName": "cn-service", "userId": "AIDACNEXAMPLE0000002", "arn": "arn:aws-cn:iam::111122223333:user/cn-service",
                    "createDate": "Oct 8, 2024, 6:11:20 PM"}},
          region="cn-north-1", ip="198.51.100.88", tlsDetails=tls("iam.cn-north-1.amazonaws.com.cn")),
]

# JSON Lines, gzip'd: GovCloud sign-in and STS.
govcloud_lines = [
    signin("gov-console-login", "2024-10-08T18:20:00Z", dict(iam_user("gov-admin", acct=GOV, partition="aws-us-gov", principal="AIDAGOVEXAMPLE000001"), accessKeyId=""),
           "Success", "Yes", "192.0.2.77", FIREFOX, region="us-gov-west-1"),
    event("gov-get-session-token", "2024-10-08T18:21:00Z", "sts.amazonaws.com", "GetSessionToken",
          iam_user("gov-admin", acct=GOV, partition="aws-us-gov", principal="AIDAGOVEXAMPLE000001", key="AKIAGOVEXAMPLE000001"),
          {"durationSeconds": 3600}, {"credentials": {"accessKeyId": "ASIAGOVEXAMPLE000001", "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLEGOV1",
                                                       "expiration": "Oct 8, 2024, 7:21:00 PM"}},
          region="us-gov-west-1", ip="192.0.2.77", read_only=True, tlsDetails=tls("sts.us-gov-west-1.amazonaws.com")),
]

# A bare JSON array, as the console's event history or a CLI query exports it (us-west-2).
export = [
    event("export-stop-logging", "2024-10-08T18:30:00Z", "cloudtrail.amazonaws.com", "StopLogging", assumed_role("Admin", "Mary_Major", mfa=True),
          {"name": "arn:aws:cloudtrail:us-west-2:111122223333:trail/management-events"}, None, region="us-west-2", ip="192.0.2.10", agent=FIREFOX,
          resources=[{"accountId": ACCT, "type": "AWS::CloudTrail::Trail", "ARN": "arn:aws:cloudtrail:us-west-2:111122223333:trail/management-events"}]),
    event("export-authorize-ingress", "2024-10-08T18:31:10Z", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
          assumed_role("Admin", "Mary_Major", mfa=True),
          {"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                                                          "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
          {"requestId": uid("export-authorize-ingress/request"), "_return": True,
           "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT, "groupId": "sg-0123456789abcdef0", "securityGroupRuleId": "sgr-0123456789abcdef0",
                                               "isEgress": False, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}},
          region="us-west-2", ip="192.0.2.10", agent=FIREFOX),
    event("export-delete-trail", "2024-10-08T18:32:45Z", "cloudtrail.amazonaws.com", "DeleteTrail", assumed_role("Admin", "Mary_Major", mfa=True),
          {"name": "management-events"}, None, region="us-west-2", ip="192.0.2.10", agent=FIREFOX,
          resources=[{"accountId": ACCT, "type": "AWS::CloudTrail::Trail", "ARN": "arn:aws:cloudtrail:us-west-2:111122223333:trail/management-events"}]),
]

# CloudWatch Logs: events a trail sends to a log group, delivered by a subscription filter.
cwl_events = [
    event("cwl-get-caller-identity", "2024-10-08T19:00:01Z", "sts.amazonaws.com", "GetCallerIdentity", assumed_role("AppServer", "i-0a1b2c3d4e5f67890"),
          None, None, ip="10.0.12.34", agent=BOTO, read_only=True),
    event("cwl-get-secret-value", "2024-10-08T19:00:02Z", "secretsmanager.amazonaws.com", "GetSecretValue", assumed_role("AppServer", "i-0a1b2c3d4e5f67890"),
          {"secretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-password-AbCdEf"}, None, ip="10.0.12.34", agent=BOTO, read_only=True,
          vpcEndpointId="vpce-0fedcba9876543210", vpcEndpointAccountId=ACCT),
    event("cwl-delete-bucket", "2024-10-08T19:00:40Z", "s3.amazonaws.com", "DeleteBucket", ROOT_ID,
          {"bucketName": "old-logs-bucket", "Host": "old-logs-bucket.s3.us-east-1.amazonaws.com"}, None, ip="203.0.113.55", agent=SAFARI,
          requestID="4D5E6F7A8B9C0D1E"),
]
firehose_events = [
    event("fh-list-users", "2024-10-08T19:05:00Z", "iam.amazonaws.com", "ListUsers", iam_user(), {"maxItems": 100}, None, read_only=True),
    event("fh-create-login-profile", "2024-10-08T19:05:30Z", "iam.amazonaws.com", "CreateLoginProfile", iam_user(),
          {"userName": "Richard_Roe", "passwordResetRequired": True}, {"loginProfile": {"userName": "Richard_Roe", "createDate": "Oct 8, 2024, 7:05:30 PM", "passwordResetRequired": True}}),
    event("fh-delete-access-key", "2024-10-08T19:06:10Z", "iam.amazonaws.com", "DeleteAccessKey", iam_user(),
          {"userName": "Richard_Roe", "accessKeyId": "AKIAI44QH8DHBEXAMPLE"}, None),
]

LOG_GROUP = "aws-cloudtrail-logs-111122223333-8f9a0b1c"


def cwl_message(events, first_id, control=False, documented_order=False):
    """A subscription delivery: `messageType`, `owner`, `logGroup`, `logStream`,
    `subscriptionFilters`, `logEvents` (id: a 56-digit string; message: the event as a string).
    `documented_order`: the keys in the order of the CloudWatch Logs guide's CloudTrail example
    (`owner` … `subscriptionFilters`, then `messageType`, then `logEvents`)."""
    if control:
        return {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "", "subscriptionFilters": [],
                "logEvents": [{"id": "", "timestamp": 1728414032016, "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}
    log_events = []
    for i, e in enumerate(events):
        millis = 1728414000000 + 1000 * i
        log_events.append({"id": str(first_id + i * 22 * 10 ** 34), "timestamp": millis, "message": json.dumps(e, separators=(",", ":"))})
    head = {"owner": ACCT, "logGroup": LOG_GROUP, "logStream": "%s_CloudTrail_us-east-1" % ACCT, "subscriptionFilters": ["cloudtrail-to-firehose"]}
    if documented_order:
        return dict(head, messageType="DATA_MESSAGE", logEvents=log_events)
    return dict({"messageType": "DATA_MESSAGE"}, **head, logEvents=log_events)


def records_file(records):
    """A log file laid out one record per line, so each can be read (and diffed) on its own."""
    return ("{\"Records\":[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n]}\n").encode()


def envelope_text(message):
    """A CloudWatch Logs message, one log event per line."""
    head = {k: v for k, v in message.items() if k != "logEvents"}
    text = json.dumps(head, separators=(",", ":"))[:-1]
    events = ",\n".join(json.dumps(e, separators=(",", ":")) for e in message["logEvents"])
    return (text + ",\"logEvents\":[\n" + events + "\n]}\n").encode()


def write(path, body, gz=False):
    path = os.path.join(OUT, path) if not path.startswith(OUT) else path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(gzip.compress(body, mtime=0) if gz else body)


def name(kind, stamp, unique):
    return "%s_%s_us-east-1_%s_%s.json" % (ACCT, kind, stamp, unique)


write("%s/%s" % (TRAIL, name("CloudTrail", "20241008T1610Z", "IdVar1at10ns0001")), records_file(identities))
write("%s/%s" % (TRAIL, name("CloudTrail", "20241008T1630Z", "F1e1dV4r1at10n02")), records_file(fields))
write("%s/%s" % (TRAIL, name("CloudTrail", "20241008T1650Z", "IamSts1nsight003")), records_file(iam_sts))
write("%s/%s" % (TRAIL, name("CloudTrail", "20241008T1705Z", "C0ns0leS1gn1n004")), records_file(console))
write("%s/%s.gz" % (INSIGHT, name("CloudTrail-Insight", "20241008T1745Z", "Ap1Err0rRate0005")), records_file(insight_file), gz=True)
write("exports/single-event.json", (json.dumps(govcloud_event, indent=2) + "\n").encode())
write("exports/cn-north-1-events.ndjson", "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in china).encode())
write("exports/us-gov-west-1-events.jsonl.gz", "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in govcloud_lines).encode(), gz=True)
write("exports/event-history-export.json", (json.dumps(export, indent=2) + "\n").encode())
write("cloudwatch-logs/data-message.json", envelope_text(cwl_message(cwl_events, 38092384838362083627992572965165184012345678901234567890, documented_order=True)))
write("cloudwatch-logs/control-message.json", envelope_text(cwl_message([], 0, control=True)))
# Firehose writes the gzip'd subscription payloads it receives back to back: one object, several
# gzip members, each one message (a health check among them).
firehose = b"".join(gzip.compress(json.dumps(m, separators=(",", ":")).encode(), mtime=0) for m in [
    cwl_message(firehose_events[:2], 38092384838362083627992572965165184098765432109876543210),
    cwl_message([], 0, control=True),
    cwl_message(firehose_events[2:], 38092384838362083627992572965165184198765432109876543210),
])
write("cloudwatch-logs/firehose-delivery.json.gz", firehose)
