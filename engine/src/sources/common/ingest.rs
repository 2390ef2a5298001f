//! Reading one unit's byte stream into the pipeline through a record format: every record,
//! and a dead-letter entry for whatever cannot be read.

use std::io::Read;

use crate::{
    batch::ObjectInfo,
    formats::{
        cloudtrail_log::{CloudTrailLogReader, LogError},
        compression::decompressed,
    },
    pipeline::{Checkpoint, SourceContext},
};

/// Reads one CloudTrail log object (any byte stream, gzip or not) as one unit. Shared by every
/// source that delivers CloudTrail log files.
pub fn cloudtrail_log(ctx: &mut SourceContext<'_>, info: ObjectInfo, input: impl Read + Send + 'static) {
    let mut unit = ctx.begin_unit(info, Checkpoint::Done);
    let stream = match decompressed(input) {
        Ok(s) => s,
        Err(e) => {
            ctx.unit_failed(&mut unit, 0, format!("cannot read: {e}"), None);
            ctx.end_unit(unit);
            return;
        }
    };
    let mut reader = CloudTrailLogReader::new(stream);
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => ctx.push(&mut unit, &rec.bytes, rec.index, rec.offset),
            Ok(None) => break,
            Err(mut e) => {
                let partial = e.take_partial();
                let reason = match &e {
                    LogError::Io { .. } => format!("{e} (corrupt or truncated compressed stream?)"),
                    _ => e.to_string(),
                };
                ctx.unit_failed(&mut unit, e.offset(), reason, partial.map(|p| (p.index, p.offset, p.bytes)));
                break;
            }
        }
    }
    ctx.end_unit(unit);
}
