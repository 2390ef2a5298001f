//! Reading one unit's byte stream into the pipeline through a record format: every record
//! (with the format's unit context), and a dead-letter entry for whatever cannot be read.

use std::io::{BufRead, Read};

use crate::{
    batch::ObjectInfo,
    formats::{FormatError, RecordReader, cloudtrail::CloudTrailReader, compression::decompressed},
    pipeline::{Checkpoint, SourceContext},
};

/// Reads one byte stream (gzip or not) as one unit, split into records by the reader
/// `format` makes of it.
pub fn records<F, R>(ctx: &mut SourceContext<'_>, info: ObjectInfo, checkpoint: Checkpoint, input: impl Read + Send + 'static, format: F)
where
    F: FnOnce(Box<dyn BufRead + Send>) -> R,
    R: RecordReader,
{
    let mut unit = ctx.begin_unit(info, checkpoint);
    let stream = match decompressed(input) {
        Ok(s) => s,
        Err(e) => {
            ctx.unit_failed(&mut unit, 0, format!("cannot read: {e}"), None);
            ctx.end_unit(unit);
            return;
        }
    };
    let mut reader = format(stream);
    loop {
        match reader.next_record() {
            Ok(Some(rec)) => ctx.push_with_context(&mut unit, &rec.bytes, rec.index, rec.offset, reader.context()),
            Ok(None) => break,
            // One bad record (an NDJSON line that is not JSON): dead-lettered, the unit goes on.
            Err(FormatError::BadRecord { what, offset, detail, record: Some(rec) }) => {
                let reason = FormatError::BadRecord { what, offset, detail, record: None }.to_string();
                ctx.reject_record(&mut unit, rec.index, rec.offset, reason, &rec.bytes);
            }
            Err(mut e) => {
                let partial = e.take_partial();
                let reason = match &e {
                    FormatError::Io { .. } => format!("{e} (corrupt or truncated compressed stream?)"),
                    _ => e.to_string(),
                };
                ctx.unit_failed(&mut unit, e.offset(), reason, partial.map(|p| (p.index, p.offset, p.bytes)));
                break;
            }
        }
    }
    ctx.end_unit(unit);
}

/// Reads one CloudTrail object as one unit, done once durable: a log file, or any other
/// container of CloudTrail events ([`CloudTrailReader`]: one event, NDJSON, a bare array, a
/// CloudWatch Logs message). Shared by every source that delivers CloudTrail objects.
pub fn cloudtrail_log(ctx: &mut SourceContext<'_>, info: ObjectInfo, input: impl Read + Send + 'static) {
    records(ctx, info, Checkpoint::Done, input, CloudTrailReader::new);
}
