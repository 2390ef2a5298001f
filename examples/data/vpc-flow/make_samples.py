#!/usr/bin/env python3
"""Writes the VPC Flow Logs samples in examples/data/vpc-flow/: flow log files as VPC Flow Logs
delivers them to S3 (a header line naming the fields, then one record per line, gzip'd), in
the default format, custom formats in other field orders, a Transit Gateway flow log, both
the plain and the Hive-compatible key layouts, and the real-world variations of the reference
notes' section 7. What each file exercises and the AWS documentation it follows: README.md
beside this script.

Account 111122223333, us-east-1, 2024-10-08; private 10.0.0.0/16, documentation ranges
(198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and the VPC's IPv6 block
2600:1f18:abcd:1200::/56. gzip headers carry no name and no time, so every run writes the
same bytes.

Run it from the repo root: python3 examples/data/vpc-flow/make_samples.py
"""
import gzip, io, os

OUT = "examples/data/vpc-flow"
ACCT = "111122223333"
DAY = "%s/AWSLogs/%s/vpcflowlogs/us-east-1/2024/10/08" % (OUT, ACCT)
HIVE = "%s/AWSLogs/aws-account-id=%s/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=10/day=08" % (OUT, ACCT)

# 2024-10-08T16:10:00Z
T = 1728403800

V2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

# Every v2-v5 field, in alphabetical order (as Security Lake's sample has them).
V5 = ("account-id action az-id bytes dstaddr dstport end flow-direction instance-id interface-id log-status packets "
      "pkt-dst-aws-service pkt-dstaddr pkt-src-aws-service pkt-srcaddr protocol region srcaddr srcport start "
      "sublocation-id sublocation-type subnet-id tcp-flags traffic-path type version vpc-id")

# A custom format with the newer fields: ECS (v7) and reject-reason (v8), no account-id.
V8 = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction reject-reason ecs-cluster-name ecs-task-id"

# Transit Gateway flow logs: their own default field set (every field, in the documented order).
TGW = ("version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id "
       "tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id "
       "tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
       "log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired "
       "tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service")

WEB, DB, API, NAT, NLB = ("eni-0a1b2c3d4e5f60001", "eni-0a1b2c3d4e5f60002", "eni-0a1b2c3d4e5f60003",
                          "eni-0a1b2c3d4e5f60004", "eni-0a1b2c3d4e5f60005")
VPC, SUBNET_A, SUBNET_B = "vpc-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as z:
        z.write(text.encode())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def lines(*ls, final_newline=True):
    return "\n".join(ls) + ("\n" if final_newline else "")


# 1. The default format: TCP, UDP, ICMP, a rejected scan, IPv6, NODATA and SKIPDATA, the header
#    repeated in the middle (two deliveries concatenated), double spaces, times in milliseconds,
#    an interface AWS created (account-id unknown), and no newline after the last record.
write(DAY + "/%s_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20241008T1610Z_5d1c3b7a.log.gz" % ACCT, lines(
    V2,
    "2 %s %s 10.0.1.15 10.0.2.30 49152 5432 6 12 2480 %d %d ACCEPT OK" % (ACCT, WEB, T, T + 60),
    "2 %s %s 10.0.1.15 10.0.2.30 49152 5432 6 12 2480 %d %d ACCEPT OK" % (ACCT, DB, T, T + 60),
    "2 %s %s 198.51.100.23 10.0.1.15 51234 22 6 3 180 %d %d REJECT OK" % (ACCT, WEB, T + 5, T + 65),
    "2 %s %s 10.0.1.15 10.0.0.2 53211 53 17 1 72 %d %d ACCEPT OK" % (ACCT, WEB, T + 7, T + 67),
    "2 %s %s 10.0.1.15 10.0.2.30 0 0 1 4 336 %d %d ACCEPT OK" % (ACCT, WEB, T + 9, T + 69),
    "2 %s %s 2600:1f18:abcd:1200::15 2001:db8:4004:c07::64 443 61022 6 9 5120 %d %d ACCEPT OK" % (ACCT, API, T + 11, T + 71),
    "2 %s %s - - - - - - - %d %d - NODATA" % (ACCT, NAT, T, T + 60),
    "2 %s %s - - - - - - - %d %d - SKIPDATA" % (ACCT, NLB, T, T + 60),
    V2,
    "2  %s %s  10.0.1.15 203.0.113.80  40112 443 6 22  15000 %d %d ACCEPT OK" % (ACCT, WEB, T + 61, T + 121),
    "2 %s %s 10.0.2.30 10.0.1.15 5432 49152 6 10 9800 %d000 %d000 ACCEPT OK" % (ACCT, DB, T + 62, T + 122),
    "2 unknown %s 203.0.113.9 10.0.1.77 55000 80 6 6 420 %d %d ACCEPT OK" % (NLB, T + 63, T + 123),
    final_newline=False,
))

# 2. A custom version 5 format, every v2-v5 field in alphabetical order: ingress and egress,
#    an internet scan rejected, an instance reaching S3 through a gateway endpoint, traffic
#    through a NAT gateway (pkt-srcaddr is the instance behind it), IPv6, a Wavelength
#    sublocation, TCP flags, and a NODATA record whose every field but a few is '-'.
def v5(**f):
    d = {k: "-" for k in V5.split()}
    d.update({"account-id": ACCT, "version": "5", "region": "us-east-1", "az-id": "use1-az1", "vpc-id": VPC, "log-status": "OK"})
    d.update({k.replace("_", "-"): str(v) for k, v in f.items()})
    return " ".join(d[k] for k in V5.split())


write(DAY + "/%s_vpcflowlogs_us-east-1_fl-0fedcba9876543210_20241008T1615Z_8e2f4a61.log.gz" % ACCT, lines(
    V5,
    v5(action="ACCEPT", bytes=40, dstaddr="10.0.2.30", dstport=5432, end=T + 360, flow_direction="ingress", instance_id="i-0a1b2c3d4e5f60002",
       interface_id=DB, packets=1, pkt_dstaddr="10.0.2.30", pkt_srcaddr="10.0.1.15", protocol=6, srcaddr="10.0.1.15", srcport=49160,
       start=T + 300, subnet_id=SUBNET_B, tcp_flags=2, type="IPv4", az_id="use1-az2"),
    v5(action="REJECT", bytes=44, dstaddr="10.0.1.15", dstport=3389, end=T + 362, flow_direction="ingress", instance_id="i-0a1b2c3d4e5f60001",
       interface_id=WEB, packets=1, pkt_dstaddr="10.0.1.15", pkt_srcaddr="198.51.100.77", protocol=6, srcaddr="198.51.100.77", srcport=40404,
       start=T + 301, subnet_id=SUBNET_A, tcp_flags=2, type="IPv4"),
    v5(action="ACCEPT", bytes=180224, dstaddr="52.216.0.10", dstport=443, end=T + 363, flow_direction="egress", instance_id="i-0a1b2c3d4e5f60001",
       interface_id=WEB, packets=140, pkt_dst_aws_service="S3", pkt_dstaddr="52.216.0.10", pkt_srcaddr="10.0.1.15", protocol=6, srcaddr="10.0.1.15",
       srcport=50110, start=T + 303, subnet_id=SUBNET_A, tcp_flags=19, traffic_path=7, type="IPv4"),
    v5(action="ACCEPT", bytes=5200, dstaddr="203.0.113.80", dstport=443, end=T + 364, flow_direction="egress", interface_id=NAT, packets=12,
       pkt_dstaddr="203.0.113.80", pkt_srcaddr="10.0.1.40", protocol=6, srcaddr="10.0.0.99", srcport=31001, start=T + 304, subnet_id=SUBNET_A,
       tcp_flags=3, traffic_path=8, type="IPv4"),
    v5(action="ACCEPT", bytes=7400, dstaddr="2001:db8:4004:c07::64", dstport=443, end=T + 365, flow_direction="egress",
       instance_id="i-0a1b2c3d4e5f60003", interface_id=API, packets=8, pkt_dstaddr="2001:db8:4004:c07::64",
       pkt_srcaddr="2600:1f18:abcd:1200::15", protocol=6, srcaddr="2600:1f18:abcd:1200::15", srcport=61030, start=T + 305,
       subnet_id=SUBNET_A, tcp_flags=19, traffic_path=2, type="IPv6"),
    v5(action="ACCEPT", bytes=960, dstaddr="10.0.3.12", dstport=8080, end=T + 366, flow_direction="ingress", interface_id="eni-0a1b2c3d4e5f60006",
       packets=6, pkt_dstaddr="10.0.3.12", pkt_srcaddr="198.51.100.140", protocol=6, srcaddr="198.51.100.140", srcport=45000, start=T + 306,
       sublocation_type="wavelength", sublocation_id="wlid-0a1b2c3d4e5f60001", subnet_id="subnet-0a1b2c3d4e5f60013", tcp_flags=18, type="IPv4"),
    " ".join({"account-id": ACCT, "interface-id": "eni-0a1b2c3d4e5f60007", "start": str(T + 300), "end": str(T + 360),
              "log-status": "NODATA", "version": "5", "region": "us-east-1", "az-id": "use1-az1", "vpc-id": VPC}.get(k, "-") for k in V5.split()),
))

# 3. A custom format with the newest fields (ECS, reject-reason; version 8) and no account-id:
#    a rejection by VPC Block Public Access, a task's traffic, and a field AWS added after this
#    sample was written ('-' for most records, a value in the last).
write(DAY + "/%s_vpcflowlogs_us-east-1_fl-0aa0bb1cc2dd3ee44_20241008T1620Z_c4d2e1f0.log.gz" % ACCT, lines(
    V8 + " encryption-status",
    "8 eni-0a1b2c3d4e5f60008 198.51.100.5 10.0.4.20 44321 80 6 2 120 %d %d REJECT OK ingress BPA - - -" % (T + 600, T + 660),
    "8 eni-0a1b2c3d4e5f60008 10.0.4.20 10.0.2.30 50500 5432 6 30 12000 %d %d ACCEPT OK egress - orders-cluster 0a1b2c3d4e5f60718293a4b5c6d7e8f9 -" % (T + 601, T + 661),
    "8 eni-0a1b2c3d4e5f60008 10.0.4.20 10.0.1.15 50501 443 6 14 4100 %d %d ACCEPT OK egress - orders-cluster 0a1b2c3d4e5f60718293a4b5c6d7e8f9 2" % (T + 602, T + 662),
))

# 4. A Transit Gateway flow log (resource-type TransitGateway, its own fields, no action).
TGW_ID, ATT_A, ATT_B = "tgw-0a1b2c3d4e5f60001", "tgw-attach-0a1b2c3d4e5f60001", "tgw-attach-0a1b2c3d4e5f60002"


def tgw(**f):
    d = {k: "-" for k in TGW.split()}
    d.update({"version": "6", "resource-type": "TransitGateway", "account-id": ACCT, "tgw-id": TGW_ID, "region": "us-east-1",
              "log-status": "OK", "type": "IPv4", "packets-lost-no-route": "0", "packets-lost-blackhole": "0",
              "packets-lost-mtu-exceeded": "0", "packets-lost-ttl-expired": "0"})
    d.update({k.replace("_", "-"): str(v) for k, v in f.items()})
    return " ".join(d[k] for k in TGW.split())


write(DAY + "/%s_vpcflowlogs_us-east-1_fl-0b1c2d3e4f5a6b7c8_20241008T1610Z_9a8b7c6d.log.gz" % ACCT, lines(
    TGW,
    tgw(tgw_attachment_id=ATT_A, tgw_src_vpc_account_id=ACCT, tgw_dst_vpc_account_id="444455556666", tgw_src_vpc_id=VPC,
        tgw_dst_vpc_id="vpc-0f9e8d7c6b5a40001", tgw_src_subnet_id=SUBNET_A, tgw_dst_subnet_id="subnet-0f9e8d7c6b5a40011",
        tgw_src_eni="eni-0a1b2c3d4e5f600a1", tgw_dst_eni="eni-0f9e8d7c6b5a400b1", tgw_src_az_id="use1-az1", tgw_dst_az_id="use1-az2",
        tgw_pair_attachment_id=ATT_B, srcaddr="10.0.1.15", dstaddr="10.20.1.9", srcport=49200, dstport=443, protocol=6, packets=24,
        bytes=18000, start=T, end=T + 60, tcp_flags=19, flow_direction="egress"),
    tgw(tgw_attachment_id=ATT_B, tgw_src_vpc_account_id="444455556666", tgw_dst_vpc_account_id=ACCT, tgw_src_vpc_id="vpc-0f9e8d7c6b5a40001",
        tgw_dst_vpc_id=VPC, tgw_src_subnet_id="subnet-0f9e8d7c6b5a40011", tgw_dst_subnet_id=SUBNET_A, tgw_src_eni="eni-0f9e8d7c6b5a400b1",
        tgw_dst_eni="eni-0a1b2c3d4e5f600a1", tgw_src_az_id="use1-az2", tgw_dst_az_id="use1-az1", tgw_pair_attachment_id=ATT_A,
        srcaddr="10.20.1.9", dstaddr="10.0.1.15", srcport=443, dstport=49200, protocol=6, packets=20, bytes=42000, start=T, end=T + 60,
        tcp_flags=27, flow_direction="ingress"),
    tgw(tgw_attachment_id=ATT_A, tgw_src_vpc_account_id=ACCT, tgw_src_vpc_id=VPC, tgw_src_subnet_id=SUBNET_A,
        tgw_src_eni="eni-0a1b2c3d4e5f600a1", tgw_src_az_id="use1-az1", srcaddr="10.0.1.15", dstaddr="10.99.0.1", srcport=49300,
        dstport=443, protocol=6, packets=3, bytes=180, start=T + 1, end=T + 61, packets_lost_no_route=3, tcp_flags=2,
        flow_direction="egress"),
))

# 5. The Hive-compatible layout (aws-account-id=/aws-service=/aws-region=/year=/month=/day=).
write(HIVE + "/%s_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20241008T1625Z_0b7d9e3c.log.gz" % ACCT, lines(
    V2,
    "2 %s %s 10.0.1.40 10.0.2.30 49400 5432 6 40 12800 %d %d ACCEPT OK" % (ACCT, API, T + 900, T + 960),
    "2 %s %s 203.0.113.200 10.0.1.15 60001 443 6 5 300 %d %d REJECT OK" % (ACCT, WEB, T + 901, T + 961),
))

# 6. Deliberately bad records between good ones: a port that is a word, a record one field
#    short, an address that is none. Each is dead-lettered with its reason; the rest lands.
write(DAY + "/%s_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20241008T1630Z_bad0bad1.log.gz" % ACCT, lines(
    V2,
    "2 %s %s 10.0.1.15 10.0.2.30 49500 5432 6 2 120 %d %d ACCEPT OK" % (ACCT, WEB, T + 1200, T + 1260),
    "2 %s %s 10.0.1.15 10.0.2.30 https 5432 6 2 120 %d %d ACCEPT OK" % (ACCT, WEB, T + 1201, T + 1261),
    "2 %s %s 10.0.1.15 10.0.2.30 49502 5432 6 2 %d %d ACCEPT OK" % (ACCT, WEB, T + 1202, T + 1262),
    "2 %s %s 10.0.1.300 10.0.2.30 49503 5432 6 2 120 %d %d ACCEPT OK" % (ACCT, WEB, T + 1203, T + 1263),
    "2 %s %s 10.0.1.15 10.0.2.30 49504 5432 6 2 120 %d %d ACCEPT OK" % (ACCT, WEB, T + 1204, T + 1264),
))
