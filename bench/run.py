#!/usr/bin/env python3
"""trawl benchmark: CloudTrail → OCSF Parquet, side by side on the same files.

    python3 bench/run.py                     # 200k records, release build, 1 and 2 threads
    python3 bench/run.py --records 1000000
    python3 bench/run.py --small             # a few seconds: smoke test (dev build, 2k records)

Measures, at each thread count N (every process is pinned to N CPUs, so "N threads" means the
same CPU for every system: trawl runs N mapper workers, DuckDB gets SET threads = N):
  trawl   `trawl run` (local source → wasm cloudtrail mapper → zstd Parquet)
  native  the same pipeline with the mapper compiled natively (what the sandbox costs)
  floor   inflate every file and find each record's boundaries (trawl's reader), nothing else:
          what no pipeline can beat
  parse   inflate every file and parse it into one serde_json::Value: a naive baseline
  duckdb  DuckDB read_json → unnest Records → the same OCSF columns as structs → zstd Parquet
and trawl's peak RSS at 1x and 10x input. Prints a table and writes JSON (--json).
Each measurement runs --repeat times and the fastest run is reported (this machine's speed
varies between runs; the best run is the least disturbed one); peak RSS is the largest of the
runs, each process's own ru_maxrss (os.wait4). Nothing here is asserted.
"""
import argparse, json, os, shutil, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def pin(cpus):
    """preexec_fn that pins the child to the first `cpus` CPUs this process may use."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))[:cpus]
    return lambda: os.sched_setaffinity(0, allowed)


def measure(cmd, env=None, cpus=None):
    """Runs cmd pinned to `cpus` CPUs; returns (wall seconds, peak RSS MiB, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=pin(cpus))
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("benchmark command failed (%d): %s\n%s" % (code, " ".join(cmd), err.decode(errors="replace")[-3000:]))
    return wall, ru.ru_maxrss / 1024.0, out.decode()


def corpus(bench_bin, work, n, shape="mixed"):
    d = os.path.join(work, "corpus-%d" % n if shape == "mixed" else "corpus-%s-%d" % (shape, n))
    meta = d + ".json"
    if not os.path.exists(meta):
        shutil.rmtree(d, ignore_errors=True)
        out = subprocess.run([bench_bin, "gen", "--records", str(n), "--shape", shape, "--out", d], check=True, capture_output=True).stdout
        open(meta, "wb").write(out)
    return d, json.load(open(meta))


def trawl_config(work, name, corpus_dir, workers):
    run = os.path.join(work, name)
    # Keep the module compile cache between runs; drop checkpoints and output.
    for sub in ("lake", "state/state.redb", "state/dead-letter"):
        p = os.path.join(run, sub)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
    os.makedirs(os.path.join(run, "state"), exist_ok=True)
    cfg = os.path.join(run, "config.toml")
    with open(cfg, "w") as f:
        f.write('[state]\ndir = "%s/state"\n[pipeline]\nworkers = %d\n[[connectors]]\nname = "bench"\nregion = "us-east-1"\n'
                '[[connectors.sources]]\ntype = "cloudtrail_files"\npath = "%s"\n[[outputs]]\ntype = "parquet"\npath = "%s/lake"\n'
                % (run, workers, corpus_dir, run))
    return cfg


DUCKDB_SQL = """
SET threads = {threads};
SET preserve_insertion_order = false;
SET enable_progress_bar = false;
COPY (
  SELECT
    CAST(r.eventTime AS TIMESTAMPTZ) AS time,
    CASE WHEN r.eventName = 'ConsoleLogin' THEN 3002 ELSE 6003 END AS class_uid,
    CASE WHEN r.readOnly THEN 2 WHEN r.eventName LIKE 'Delete%' THEN 4 WHEN r.eventName LIKE 'Create%' OR r.eventName LIKE 'Run%' THEN 1 ELSE 3 END AS activity_id,
    CASE WHEN r.errorCode LIKE '%AccessDenied%' THEN 2 ELSE 1 END AS severity_id,
    CASE WHEN r.errorCode IS NULL THEN 1 ELSE 2 END AS status_id,
    r.errorCode AS status_code, r.errorMessage AS status_detail,
    struct_pack(
      "user" := struct_pack(uid := coalesce(r.userIdentity.arn, r.userIdentity.principalId), uid_alt := r.userIdentity.principalId,
                            name := r.userIdentity.userName, type := r.userIdentity.type, credential_uid := r.userIdentity.accessKeyId,
                            account := struct_pack(uid := r.userIdentity.accountId)),
      "session" := struct_pack(issuer := r.userIdentity.sessionContext.sessionIssuer.arn,
                               is_mfa := r.userIdentity.sessionContext.attributes.mfaAuthenticated = 'true'),
      invoked_by := r.userIdentity.invokedBy) AS actor,
    struct_pack(operation := r.eventName, service := struct_pack(name := r.eventSource), request := struct_pack(uid := r.requestID)) AS api,
    struct_pack(ip := r.sourceIPAddress) AS src_endpoint,
    struct_pack(user_agent := r.userAgent) AS http_request,
    struct_pack(provider := 'AWS', region := r.awsRegion, account := struct_pack(uid := r.recipientAccountId, name := 'bench')) AS cloud,
    struct_pack(version := '1.1.0', uid := r.eventID, product := struct_pack(name := 'CloudTrail', vendor_name := 'AWS', version := r.eventVersion)) AS metadata,
    to_json(struct_pack(requestParameters := r.requestParameters, responseElements := r.responseElements,
                        additionalEventData := r.additionalEventData, tlsDetails := r.tlsDetails))::VARCHAR AS unmapped
  FROM (SELECT unnest(Records) AS r FROM read_json('{glob}', format = 'unstructured', maximum_object_size = 1073741824,
        columns = {{Records: 'STRUCT(eventVersion VARCHAR, eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR,
          sourceIPAddress VARCHAR, userAgent VARCHAR, requestID VARCHAR, eventID VARCHAR, readOnly BOOLEAN, errorCode VARCHAR,
          errorMessage VARCHAR, recipientAccountId VARCHAR, eventType VARCHAR, requestParameters JSON, responseElements JSON,
          additionalEventData JSON, tlsDetails JSON, resources JSON,
          userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, accountId VARCHAR, accessKeyId VARCHAR,
            userName VARCHAR, invokedBy VARCHAR, sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR),
            attributes STRUCT(creationDate VARCHAR, mfaAuthenticated VARCHAR))))[]'}}))
) TO '{out}' (FORMAT parquet, COMPRESSION zstd);
SELECT count(*) FROM read_parquet('{out}');
"""


# VPC Flow Logs → the OCSF Network Activity columns trawl's vpc_flow mapper writes, the same
# work in DuckDB: read the space-delimited text with its header, '-' as null.
DUCKDB_VPC_SQL = """
SET threads = {threads};
SET preserve_insertion_order = false;
SET enable_progress_bar = false;
COPY (
  SELECT
    coalesce(r."end", r."start") * 1000 AS time,
    4001 AS class_uid, 4 AS category_uid, 6 AS activity_id, 400106 AS type_uid, 1 AS severity_id,
    r."start" * 1000 AS start_time, r."end" * 1000 AS end_time,
    CASE r.action WHEN 'ACCEPT' THEN 1 WHEN 'REJECT' THEN 2 ELSE 0 END AS action_id,
    CASE r.action WHEN 'ACCEPT' THEN 'Allowed' WHEN 'REJECT' THEN 'Denied' ELSE NULL END AS action,
    struct_pack(ip := r.srcaddr, port := r.srcport, interface_uid := r."interface-id", instance_uid := r."instance-id",
                vpc_uid := r."vpc-id", subnet_uid := r."subnet-id") AS src_endpoint,
    struct_pack(ip := r.dstaddr, port := r.dstport) AS dst_endpoint,
    struct_pack(protocol_num := r.protocol, tcp_flags := r."tcp-flags", direction := r."flow-direction") AS connection_info,
    struct_pack(bytes := r.bytes, packets := r.packets) AS traffic,
    struct_pack(provider := 'AWS', region := r.region, zone := r."az-id", account := struct_pack(uid := r."account-id", name := 'bench')) AS cloud,
    struct_pack(version := '1.1.0', product := struct_pack(name := 'Amazon VPC', vendor_name := 'AWS', version := CAST(r.version AS VARCHAR)),
                log_name := r."log-status") AS metadata
  FROM read_csv('{glob}', delim = ' ', header = true, nullstr = '-', compression = 'gzip',
                columns = {{'version': 'INTEGER', 'account-id': 'VARCHAR', 'interface-id': 'VARCHAR', 'srcaddr': 'VARCHAR',
                  'dstaddr': 'VARCHAR', 'srcport': 'INTEGER', 'dstport': 'INTEGER', 'protocol': 'INTEGER', 'packets': 'BIGINT',
                  'bytes': 'BIGINT', 'start': 'BIGINT', 'end': 'BIGINT', 'action': 'VARCHAR', 'log-status': 'VARCHAR',
                  'vpc-id': 'VARCHAR', 'subnet-id': 'VARCHAR', 'instance-id': 'VARCHAR', 'tcp-flags': 'INTEGER', 'type': 'VARCHAR',
                  'pkt-srcaddr': 'VARCHAR', 'pkt-dstaddr': 'VARCHAR', 'region': 'VARCHAR', 'az-id': 'VARCHAR',
                  'sublocation-type': 'VARCHAR', 'sublocation-id': 'VARCHAR', 'pkt-src-aws-service': 'VARCHAR',
                  'pkt-dst-aws-service': 'VARCHAR', 'flow-direction': 'VARCHAR', 'traffic-path': 'INTEGER'}}) r
) TO '{out}' (FORMAT parquet, COMPRESSION zstd);
SELECT count(*) FROM read_parquet('{out}');
"""


MOTO_SETUP = """
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2, iam = boto3.client("ec2", **kw), boto3.client("iam", **kw)
image = ec2.describe_images()["Images"][0]["ImageId"]
out = []
for k in range(int(sys.argv[2])):
    r = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-%d" % k}]}])
    i = r["Instances"][0]
    eni = i["NetworkInterfaces"][0]
    out.append({"interface_id": eni["NetworkInterfaceId"], "instance_id": i["InstanceId"], "private_ip": i["PrivateIpAddress"],
                "vpc_id": i["VpcId"], "subnet_id": i["SubnetId"]})
iam.create_account_alias(AccountAlias="bench-prod")
json.dump(out, open(sys.argv[3], "w"))
"""


def moto_inventory(work, instances):
    """Starts moto_server with `instances` EC2 instances (Name tags, ENIs) and an account alias,
    for the vpc_flow source's enrichment; returns (process, endpoint, interfaces JSON path)."""
    import socket
    venv = os.path.join(ROOT, ".venv", "bin")
    server = os.path.join(venv, "moto_server")
    if not os.path.exists(server) and not (venv_install(MOTO_PIN) and os.path.exists(server)):
        print("warning: cannot install %s into .venv; VPC Flow runs without enrichment, so its figures do not compare with bench/baseline.json" % MOTO_PIN, file=sys.stderr)
        return None
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([os.path.join(venv, "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = "http://127.0.0.1:%d" % port
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    path = os.path.join(work, "vpc-interfaces.json")
    sh([os.path.join(venv, "python"), "-c", MOTO_SETUP, endpoint, str(instances), path], stdout=subprocess.DEVNULL)
    return proc, endpoint, path


def vpc_config(work, name, corpus_dir, workers, endpoint):
    """A vpc_flow run over the local corpus; enriched from `endpoint` (moto) when given."""
    run = os.path.join(work, name)
    for sub in ("lake", "state/state.redb", "state/dead-letter"):
        p = os.path.join(run, sub)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.remove(p))
    os.makedirs(os.path.join(run, "state"), exist_ok=True)
    conn = ('endpoint_url = "%s"\nauth = { type = "basic", access_key_id = "testing", secret_access_key = "testing" }\n' % endpoint) if endpoint else ""
    cfg = os.path.join(run, "config.toml")
    with open(cfg, "w") as f:
        f.write('[state]\ndir = "%s/state"\n[pipeline]\nworkers = %d\n[[connectors]]\nname = "bench"\nregion = "us-east-1"\n%s'
                '[[connectors.sources]]\ntype = "vpc_flow"\npath = "%s"\nenrich = %s\n[[outputs]]\ntype = "parquet"\npath = "%s/lake"\n'
                % (run, workers, conn, corpus_dir, "true" if endpoint else "false", run))
    return cfg


# The moto tests/run.sh pins: the bench's VPC run is enriched from it.
MOTO_PIN = "moto[server]==5.2.5"


def venv_install(requirement):
    """Installs `requirement` into .venv (created if missing); whether it worked."""
    venv = os.path.join(ROOT, ".venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        sh([sys.executable, "-m", "venv", venv])
    print("installing %s into .venv ..." % requirement, file=sys.stderr)
    return subprocess.run([py, "-m", "pip", "install", "-q", requirement]).returncode == 0


def duckdb_python(work):
    py = os.path.join(ROOT, ".venv", "bin", "python")
    if not os.path.exists(py) or subprocess.run([py, "-c", "import duckdb"], capture_output=True).returncode != 0:
        if not venv_install("duckdb"):
            print("warning: cannot install duckdb; the DuckDB column is skipped", file=sys.stderr)
            return None
    return py


# Runs DuckDB's statements timed inside its own process, so Python's start-up and import are
# not charged to DuckDB; prints {"records": <count of the last query>, "seconds": …}.
DUCKDB_SCRIPT = ("import duckdb,sys,time,json; c=duckdb.connect(); q=sys.argv[1].split(';'); t=time.perf_counter(); "
                 "[c.execute(s) for s in q[:-2] if s.strip()]; el=time.perf_counter()-t; "
                 "print(json.dumps({'records': c.execute(q[-2]).fetchone()[0], 'seconds': el}))")


def run_duckdb(py, sql, t):
    """(seconds, peak RSS MiB, records) of one DuckDB run pinned to t CPUs."""
    _, rss, out = measure([py, "-c", DUCKDB_SCRIPT, sql], cpus=t)
    d = json.loads(out.strip().splitlines()[-1])
    return d["seconds"], rss, d["records"]


def add_row(rows, name, t, runs, records, mb):
    """One table row from a measurement's runs: the fastest run, the largest peak RSS."""
    wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
    rows.append({"system": name, "threads": t, "seconds": round(wall, 3), "records": records, "records_per_s": round(records / wall),
                 "mb_per_s": round(mb / wall, 1), "peak_rss_mib": round(rss, 1), "runs_s": [round(r[0], 3) for r in runs]})


def ratios_of(rows, threads, big, against):
    """trawl/<each of against>, native/trawl, the thread scaling and the 10x memory ratio."""
    def rate(system, t):
        return next((r["records_per_s"] for r in rows if r["system"] == system and r["threads"] == t), None)
    ratios = {}
    for t in threads:
        for other in against:
            if rate(other, t):
                ratios["trawl/%s@%d" % (other, t)] = round(rate("trawl", t) / rate(other, t), 2)
        ratios["native/trawl@%d" % t] = round(rate("native", t) / rate("trawl", t), 2)
    if len(threads) > 1:
        ratios["trawl %d/%d threads" % (threads[-1], threads[0])] = round(rate("trawl", threads[-1]) / rate("trawl", threads[0]), 2)
    if big:
        ratios["rss 10x/1x"] = round(big["peak_rss_mib"] / big["peak_rss_1x_mib"], 2)
    return ratios


def print_table(title, rows, big, ratios):
    print("\n" + title)
    print("%-8s %7s %9s %12s %8s %10s" % ("system", "threads", "seconds", "records/s", "MB/s", "peak RSS"))
    for r in rows:
        print("%-8s %7d %9.2f %12d %8.1f %7.1f MiB" % (r["system"], r["threads"], r["seconds"], r["records_per_s"], r["mb_per_s"], r["peak_rss_mib"]))
    if big:
        print("trawl at 10x (%d records, %d threads): %.2f s, peak RSS %.1f MiB (1x: %.1f MiB)" % (big["records"], big["threads"], big["seconds"], big["peak_rss_mib"], big["peak_rss_1x_mib"]))
    for k, v in ratios.items():
        print("  %-24s %s" % (k, v))


def ten_x(rows, t, records, wall, rss):
    return {"records": records, "threads": t, "seconds": round(wall, 3), "peak_rss_mib": round(rss, 1),
            "peak_rss_1x_mib": next(r["peak_rss_mib"] for r in rows if r["system"] == "trawl" and r["threads"] == t)}


def bench_vpc(a, trawl, bench, work, py, threads):
    """VPC Flow Logs: trawl (enriched from moto when it is there), the native mapper, the floor
    and DuckDB on one corpus, at each thread count, and trawl's peak RSS at 1x and 10x."""
    moto = moto_inventory(work, 16 if a.small else 64)
    endpoint = moto[1] if moto else None
    try:
        def corpus_of(n):
            d = os.path.join(work, "vpc-%d" % n)
            shutil.rmtree(d, ignore_errors=True)  # the interfaces (moto's ids) differ per run
            cmd = [bench, "gen-vpc", "--records", str(n), "--out", d] + (["--interfaces", moto[2]] if moto else [])
            return d, json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        cdir, meta = corpus_of(a.vpc_records)
        n, mb = meta["records"], meta["uncompressed_bytes"] / 1e6
        for t in threads:  # warm the compile cache
            measure([trawl, "run", "-q", "--config", vpc_config(work, "vpc-%d" % t, cdir, t, endpoint)])
        rows = []
        for t in threads:
            runs = {"trawl": [], "native": [], "floor": [], "duckdb": []}
            counts = {}
            for _ in range(a.repeat):
                summary = os.path.join(work, "vpc-summary-%d.json" % t)
                wall, rss, _ = measure([trawl, "run", "-q", "--config", vpc_config(work, "vpc-%d" % t, cdir, t, endpoint), "--summary-json", summary], cpus=t)
                s = json.load(open(summary))
                assert s["records_written"] == n, s
                runs["trawl"].append((wall, rss))
                wall, rss, _ = measure([bench, "native", "--mapper", "vpc_flow", "--workers", str(t), "--config", vpc_config(work, "vpc-%d" % t, cdir, t, endpoint)], cpus=t)
                runs["native"].append((wall, rss))
                wall, rss, out = measure([bench, "floor", cdir, "--threads", str(t)], cpus=t)
                runs["floor"].append((wall, rss))
                counts["floor"] = json.loads(out)["records"]
                if py:
                    sql = DUCKDB_VPC_SQL.format(threads=t, glob=os.path.join(cdir, "**", "*.log.gz"), out=os.path.join(work, "duckdb-vpc-%d.parquet" % t))
                    wall, rss, counts["duckdb"] = run_duckdb(py, sql, t)
                    runs["duckdb"].append((wall, rss))
            add_row(rows, "trawl", t, runs["trawl"], n, mb)
            add_row(rows, "native", t, runs["native"], n, mb)
            add_row(rows, "floor", t, runs["floor"], counts["floor"], mb)
            if py:
                add_row(rows, "duckdb", t, runs["duckdb"], counts["duckdb"], mb)
        big = None
        if not a.no_10x:
            cdir10, meta10 = corpus_of(a.vpc_records * 10)
            t = max(threads)
            wall, rss, _ = measure([trawl, "run", "-q", "--config", vpc_config(work, "vpc-10x", cdir10, t, endpoint)], cpus=t)
            big = ten_x(rows, t, meta10["records"], wall, rss)
            shutil.rmtree(cdir10, ignore_errors=True)
    finally:
        if moto:
            moto[0].kill()
    ratios = ratios_of(rows, threads, big, ["duckdb", "floor"])
    print_table("VPC Flow Logs corpus: %d records, %.1f MB uncompressed, v5 custom format, enrichment %s" % (n, mb, "on (moto: %s)" % endpoint if endpoint else "off"), rows, big, ratios)
    return {"corpus": meta, "enriched": bool(endpoint), "rows": rows, "ten_x": big, "ratios": ratios}


def bench_cloudtrail(a, trawl, bench, work, py, threads, shape):
    """CloudTrail: trawl, the native mapper, the floor, a naive parse and DuckDB on one corpus of
    `shape`, at each thread count; the mapper alone; trawl's peak RSS at 1x and 10x."""
    cdir, meta = corpus(bench, work, a.records, shape)
    n, mb = meta["records"], meta["uncompressed_bytes"] / 1e6

    # Warm the compile cache so timed runs load the module from it.
    for t in threads:
        measure([trawl, "run", "-q", "--config", trawl_config(work, "trawl-%s-%d" % (shape, t), cdir, t)])

    rows = []

    for t in threads:
        runs = {"trawl": [], "native": [], "floor": [], "parse": [], "duckdb": []}
        counts = {}
        for _ in range(a.repeat):  # interleaved, so a slow spell of the machine hits every system alike
            cfg = trawl_config(work, "trawl-%s-%d" % (shape, t), cdir, t)
            summary = os.path.join(work, "summary-%s-%d.json" % (shape, t))
            wall, rss, _ = measure([trawl, "run", "-q", "--config", cfg, "--summary-json", summary], cpus=t)
            s = json.load(open(summary))
            assert s["records_written"] == n, s
            runs["trawl"].append((wall, rss))
            wall, rss, _ = measure([bench, "native", "--config", trawl_config(work, "trawl-%s-%d" % (shape, t), cdir, t), "--workers", str(t)], cpus=t)
            runs["native"].append((wall, rss))
            for name, cmd in (("floor", "floor"), ("parse", "value-parse")):
                wall, rss, out = measure([bench, cmd, cdir, "--threads", str(t)], cpus=t)
                runs[name].append((wall, rss))
                counts[name] = json.loads(out)["records"]
            if py:
                sql = DUCKDB_SQL.format(threads=t, glob=os.path.join(cdir, "**", "*.json.gz"), out=os.path.join(work, "duckdb-%s-%d.parquet" % (shape, t)))
                wall, rss, counts["duckdb"] = run_duckdb(py, sql, t)
                runs["duckdb"].append((wall, rss))
        add_row(rows, "trawl", t, runs["trawl"], n, mb)
        add_row(rows, "native", t, runs["native"], n, mb)
        add_row(rows, "floor", t, runs["floor"], counts["floor"], mb)
        add_row(rows, "parse", t, runs["parse"], counts["parse"], mb)
        if py:
            add_row(rows, "duckdb", t, runs["duckdb"], counts["duckdb"], mb)

    # The mapper alone on the same in-memory batches, one CPU: what the sandbox costs
    # (issue: wasm <= 1.25x native). Inside one run the two sides alternate batch by batch, so
    # a slow spell of the machine hits both; the ratio reported is the median of the runs'.
    # Measured with the default compile settings and, unless --small, with
    # pipeline.mapper_inline (Cranelift's inliner: faster code, a slow and memory-hungry
    # first compile).
    def mapper_figures(extra):
        mapper = None
        ratios = []
        rounds = "1" if a.small else "3"
        for _ in range(a.repeat):
            _, rss, out = measure([bench, "mapper", cdir, "--batches", "32", "--rounds", rounds] + extra, cpus=1)
            m = json.loads(out.strip().splitlines()[-1])
            ratios.append(m["wasm_over_native"])
            m["peak_rss_mib"] = round(rss, 1)  # the module's compile dominates it
            if mapper is None:
                mapper = m
            for side in ("wasm", "native"):
                key = side + "_records_per_s"
                mapper[key] = max(mapper[key], m[key])
            for k in ("compile_ms", "cached_load_ms", "setup_us"):
                mapper[k] = min(mapper[k], m[k])
            mapper["peak_rss_mib"] = max(mapper["peak_rss_mib"], m["peak_rss_mib"])
        ratios.sort()
        mapper["wasm_over_native"] = ratios[len(ratios) // 2]
        mapper["wasm_over_native_runs"] = ratios
        for k in ("wasm_s", "native_s"):  # one run's times; the rates above are the best runs'
            mapper.pop(k, None)
        return mapper

    mapper = mapper_figures([])
    if not a.small:
        mapper["inline"] = mapper_figures(["--inline"])

    big = None
    if not a.no_10x:
        cdir10, meta10 = corpus(bench, work, a.records * 10, shape)
        t = max(threads)
        cfg = trawl_config(work, "trawl-10x-" + shape, cdir10, t)
        measure([trawl, "run", "-q", "--config", cfg], cpus=t)  # warm the cache
        cfg = trawl_config(work, "trawl-10x-" + shape, cdir10, t)
        wall, rss, _ = measure([trawl, "run", "-q", "--config", cfg], cpus=t)
        big = ten_x(rows, t, meta10["records"], wall, rss)

    ratios = ratios_of(rows, threads, big, ["duckdb", "floor", "parse"])
    print_table("CloudTrail corpus (%s): %d records, %.1f MB uncompressed (%s)" % (shape, n, mb, cdir), rows, big, ratios)
    for label, m in (("mapper alone", mapper), ("  with mapper_inline", mapper.get("inline"))):
        if m:
            print("%s (%d records): wasm %.0f rec/s, native %.0f rec/s, wasm/native %.2fx; compile %.0f ms (peak RSS %.0f MiB), load from cache %.2f ms, instance setup %.1f us/batch"
                  % (label, m["records"], m["wasm_records_per_s"], m["native_records_per_s"], m["wasm_over_native"],
                     m["compile_ms"], m["peak_rss_mib"], m["cached_load_ms"], m["setup_us"]))
    return {"shape": shape, "corpus": meta, "rows": rows, "ten_x": big, "ratios": ratios, "mapper": mapper}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--shapes", default="mixed,lean", help="CloudTrail corpus shapes (bench gen --shape): mixed, lean")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--profile", default="release", help="cargo profile to build (release; dev for smoke tests)")
    ap.add_argument("--small", action="store_true", help="2,000 records, dev build: runs in seconds")
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument("--no-10x", action="store_true", help="skip the 10x-input memory run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest is reported (default 3)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--no-vpc", action="store_true", help="skip the VPC Flow Logs corpus")
    ap.add_argument("--vpc-records", type=int, default=1_000_000, help="VPC Flow corpus size (the issue's full size: 10000000)")
    a = ap.parse_args()
    if a.small:
        a.records, a.profile, a.repeat, a.vpc_records = 2000, "dev", 1, 5000
    threads = [int(t) for t in a.threads.split(",")]

    print("building (%s profile) ..." % a.profile, file=sys.stderr)
    sh(["cargo", "build", "-q", "--profile", a.profile, "-p", "trawl", "-p", "trawl-bench"], cwd=ROOT)
    tdir = os.path.join(ROOT, "target", "debug" if a.profile == "dev" else a.profile)
    trawl, bench = os.path.join(tdir, "trawl"), os.path.join(tdir, "trawl-bench")
    work = os.path.join(ROOT, "target", "bench")
    os.makedirs(work, exist_ok=True)
    py = None if a.no_duckdb else duckdb_python(work)
    result = {"profile": a.profile, "cloudtrail": [bench_cloudtrail(a, trawl, bench, work, py, threads, shape) for shape in a.shapes.split(",")]}
    first = json.loads(measure([bench, "first-load"], cpus=1)[2].strip().splitlines()[-1])
    print("\nfirst run: the %d standard mappers' machine code ready in %.0f ms on a fresh state dir (%s)"
          % (len(first["mappers"]), first["total_ms"], ", ".join("%s %.0f ms" % (k, v) for k, v in first["mappers"].items())))
    result["first_load"] = first
    if not a.no_vpc:
        result["vpc_flow"] = bench_vpc(a, trawl, bench, work, py, threads)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
