#!/usr/bin/env python3
"""Writes the Amazon Redshift audit log samples in examples/data/redshift/: the connection log,
the user log and the user activity log of one cluster as Redshift delivers them to S3
(gzip'd, `AWSLogs/<acct>/redshift/<region>/YYYY/MM/DD/<acct>_redshift_<region>_<cluster>_<logtype>_<timestamp>.gz`),
with the variations of the reference notes' sections 1 and 7. What each file exercises and
the AWS documentation it follows: README.md beside this script.

Account 111122223333, us-east-1, cluster `mycluster`, 2024-10-08; clients in 10.0.12.0/24 and
the documentation ranges (203.0.113.0/24, 2001:db8::/32). gzip headers carry no name and no
time, so every run writes the same bytes.

Run it from the repo root: python3 examples/data/redshift/make_samples.py
"""
import gzip, io, os

OUT = "examples/data/redshift"
ACCT = "111122223333"
DAY = "%s/AWSLogs/%s/redshift/us-east-1/2024/10/08" % (OUT, ACCT)


def name(log, stamp="2024-10-08T16:10"):
    return "%s/%s_redshift_us-east-1_mycluster_%s_%s.gz" % (DAY, ACCT, log, stamp)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as z:
        z.write(text.encode())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def row(*fields, pad=None):
    """A pipe-delimited line ending in `|`. Redshift pads text fields with spaces: by default
    one space after each text value (as the documented samples show), or, with `pad`, to the
    column widths of STL_CONNECTION_LOG (char(50), char(45), ...)."""
    out = []
    for i, f in enumerate(fields):
        f = str(f)
        if pad and i < len(pad) and pad[i]:
            f = f.ljust(pad[i])
        elif f and not f.isdigit() and i != 1:
            f += " "
        elif not f:
            f = " "
        out.append(f)
    return "|".join(out) + "|"


# STL_CONNECTION_LOG widths of the first fields: event char(50), recordtime, remotehost
# char(45), remoteport char(32), pid, dbname char(50), username char(50), authmethod char(32).
WIDTHS = [50, 0, 45, 32, 0, 50, 50, 32]

TLS = ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")
SESSION = "c1a5e8f2-6b7d-4c3e-9a0f-1b2c3d4e5f60"

# The connection log. The first 16 fields are stable; clusters since 2021 append
# os_version/driver_version (in an order the AWS pages disagree on), plugin_name,
# protocol_version, sessionid and compression. Times have milliseconds after a colon.
connection = [
    # A client's connection through its life, with every field of a newer cluster.
    row("authenticated", "Tue, 8 Oct 2024 16:10:02:118", "10.0.12.7", 52742, 1073815552, "dev", "analyst", "password", 0, *TLS, 1500,
        "", "", "", "psql", "Linux 5.10.225-213.878.amzn2.x86_64", "PostgreSQL 14.12", "", 2, SESSION, "off"),
    row("initiating session", "Tue, 8 Oct 2024 16:10:02:121", "10.0.12.7", 52742, 1073815552, "dev", "analyst", "password", 0, *TLS, 1500,
        "", "", "", "psql", "Linux 5.10.225-213.878.amzn2.x86_64", "PostgreSQL 14.12", "", 2, SESSION, "off"),
    # Redshift's own local sessions, as the documented sample writes them (18 fields).
    row("authenticated", "Tue, 8 Oct 2024 16:10:05:004", "[local]", "", 1073946624, "dev", "rdsdb", "Ident", 0, "", "", 0, "", "", "", "", "", ""),
    row("disconnecting session", "Tue, 8 Oct 2024 16:10:05:131", "[local]", "", 1073946624, "dev", "rdsdb", "Ident", 127304, "", "", 0, "", "", "", "", "", ""),
    # A failed sign-in from outside, with the first 16 fields only.
    row("authentication failure", "Tue, 8 Oct 2024 16:11:02:019", "203.0.113.50", 61000, 1074077696, "dev", "admin", "password", 0, *TLS, 1500,
        "", "", "", ""),
    # An IAM (federated) sign-in by a JDBC driver that lists driver_version before os_version.
    row("authenticated", "Tue, 8 Oct 2024 16:12:40:507", "10.0.12.31", 50122, 1074208768, "analytics", "IAM:alice", "password", 0, "TLSv1.3",
        "TLS_AES_256_GCM_SHA384", 1500, "", "", "7e0c3b9a-2f41-4d8e-b6a5-0c9d8e7f6a51", "DBeaver 24.1.5", "Redshift JDBC Driver 2.1.0.30",
        "Windows 11 10.0", "BrowserSamlCredentialsProvider", 2, "0f3e2d1c-4b5a-4968-8776-a5b4c3d2e1f0", "lz4"),
    # An IPv6 client and a client known by host name.
    row("authenticated", "Tue, 8 Oct 2024 16:13:00:000", "2001:db8:12::7", 49822, 1074339840, "dev", "etl", "md5", 0, *TLS, 9001,
        "", "", "", "python-redshift-connector", "", "", "", "", "", ""),
    row("authenticated", "Tue, 8 Oct 2024 16:13:30:250", "ip-10-0-12-9.ec2.internal", 40110, 1074470912, "dev", "etl", "md5", 0, *TLS, 1500,
        "", "", "", "", "", "", "", "", "", ""),
    # Fields padded to their column widths.
    row("disconnecting session", "Tue, 8 Oct 2024 16:15:02:126", "10.0.12.7", 52742, 1073815552, "dev", "analyst", "password", 300005008, *TLS,
        1500, "", "", "", "psql", "Linux 5.10.225-213.878.amzn2.x86_64", "PostgreSQL 14.12", "", 2, SESSION, "off", pad=WIDTHS),
]
write(name("connectionlog"), "\n".join(connection) + "\n")

# The user log: userid|username|oldusername|action|usecreatedb|usesuper|usecatupd|valuntil|pid|xid|recordtime.
users = [
    "100|awsuser | |create |1|1|0|9223372036854775807|14888|1080|Tue, 8 Oct 2024 16:10:10:695",
    "104|etl | |create |0|0|0| |1073815552|2201|Tue, 8 Oct 2024 16:11:20:004",
    "104|etl | |alter |1|0|0|Sat, 1 Mar 2025 00:00:00:000|1073815552|2205|Tue, 8 Oct 2024 16:12:01:310",
    "104|etl_svc |etl |rename |1|0|0| |1073815552|2210|Tue, 8 Oct 2024 16:12:44:120",
    "105|%s|%s|drop      |0|0|0| |1073815552|2213|Tue, 8 Oct 2024 16:14:00:000" % ("legacy_report".ljust(50), " " * 50),
]
write(name("userlog"), "\n".join(users) + "\n")

# The user activity log: a record starts only at `'<time>Z UTC [ db=`; the SQL keeps its lines.
activity = """'2024-10-08T16:10:02Z UTC [ db=dev user=analyst pid=1073815552 userid=103 xid=2190 ]' LOG: SET statement_timeout TO 120000
'2024-10-08T16:10:03Z UTC [ db=dev user=analyst pid=1073815552 userid=103 xid=2191 ]' LOG: SELECT o.order_id,
       o.total,
       c.email
FROM sales.orders o
JOIN sales.customers c ON c.id = o.customer_id

WHERE o.placed_at >= '2024-10-01'
  AND c.region = 'EU';
'2024-10-08T16:10:05Z UTC [ db=dev user=rdsdb pid=1073946624 userid=1 xid=2192 ]' LOG: SELECT  ss.node as node,
        bc.temporary as temporary
FROM stv_slices ss;
'2024-10-08T16:11:20Z UTC [ db=dev user=awsuser pid=1073815552 userid=100 xid=2201 ]' LOG: create user etl password '***';
'2024-10-08T16:12:45Z UTC [ db=analytics user=IAM:alice pid=1074208768 userid=106 xid=2212 ]' LOG: SELECT 'it''s ok' AS note,
'2024-10-08' AS day
"""
write(name("useractivitylog"), activity)

# Deliberately bad connection log records between good ones: a time that is not one, a port
# that is a word, and a line cut short (the reader refuses it; the mapper never sees it).
bad = [
    row("authenticated", "Tue, 8 Oct 2024 16:40:00:001", "10.0.12.7", 52800, 1075000000, "dev", "analyst", "password", 0, *TLS, 1500, "", "", "", ""),
    row("authenticated", "yesterday at noon", "10.0.12.7", 52801, 1075000001, "dev", "analyst", "password", 0, *TLS, 1500, "", "", "", ""),
    row("authenticated", "Tue, 8 Oct 2024 16:40:02:003", "10.0.12.7", "ssh", 1075000002, "dev", "analyst", "password", 0, *TLS, 1500, "", "", "", ""),
    "authenticated |Tue, 8 Oct 2024 16:40:03:004|10.0.12.7 |52803 |1075000003|dev ",
    row("disconnecting session", "Tue, 8 Oct 2024 16:45:00:000", "10.0.12.7", 52800, 1075000000, "dev", "analyst", "password", 299999000, *TLS, 1500,
        "", "", "", ""),
]
write(name("connectionlog", "2024-10-08T16:40"), "\n".join(bad) + "\n")
