//! Queue sources: the SQS receive → read → commit → delete loop, for any message kind.
//!
//! Long-poll ReceiveMessage; hand each message to the source's [`MessageReader`], which says
//! which units it stands for (objects to fetch, or the message itself as a record); let the
//! reader read them; every `commit_every_messages` messages (and at the end) ask the pipeline
//! to commit, and only after a successful reply DeleteMessageBatch. While units are being read
//! or committed, messages invisible for half the visibility timeout get it extended, so nobody
//! else receives them meanwhile. A message received more than `max_receive_count` times, or
//! one the reader cannot make sense of, goes to the dead-letter output (its body is the raw
//! record) and is deleted. A message whose units could not be read now stays on the queue and
//! comes back. The loop ends when a receive comes back empty (the queue is drained) or after
//! `--max-duration`.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use crate::{
    aws::{AwsError, describe, runtime},
    batch::ObjectInfo,
    pipeline::{Checkpoint, SourceContext},
    sources::SourceError,
};

/// `trawl check` for a queue source: sqs:GetQueueAttributes, which takes no message and needs
/// no permission the run does not; `Ok` is about how many messages are waiting.
pub fn probe_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, AwsError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    match runtime().block_on(sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::ApproximateNumberOfMessages).send()) {
        Ok(o) => Ok(o.attributes().and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages)).cloned().unwrap_or_default()),
        Err(e) => {
            let mut e = describe(&e, "sqs:GetQueueAttributes");
            if e.code.contains("NonExistentQueue") || e.code == "QueueDoesNotExist" {
                e.message = format!("queue {url} does not exist");
            }
            Err(e)
        }
    }
}

/// What a queue source does with its messages.
pub trait MessageReader {
    /// Looks at one message. `Ok(units)`: the ids of the units it stands for (they must be
    /// durable before it is deleted; none: delete it at once, e.g. a test event). `Err(reason)`:
    /// it makes no sense; it is dead-lettered and deleted. A reader may read the units here
    /// (the message is the record) or queue them for [`read`](Self::read).
    fn plan(&mut self, ctx: &mut SourceContext<'_>, message_id: &str, body: &str) -> Result<Vec<String>, String>;
    /// Reads the units queued by the last receive's messages; call `keep_alive` now and then.
    fn read(&mut self, _ctx: &mut SourceContext<'_>, _keep_alive: &mut dyn FnMut()) {}
    /// Units that could not be read for a reason that may pass (throttling, access): their
    /// messages stay on the queue.
    fn to_retry(&self) -> &HashSet<String>;
}

/// How the loop uses the queue.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Long-poll wait per ReceiveMessage, 0–20 s.
    pub wait_seconds: i32,
    /// Asked for on receive and extended to while work is in progress.
    pub visibility_timeout_seconds: i32,
    /// A message received more often is dead-lettered and deleted.
    pub max_receive_count: u32,
    /// Commit (and delete) after this many messages.
    pub commit_every_messages: usize,
    /// Stop receiving after this long.
    pub max_duration: Option<Duration>,
}

impl QueueSettings {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        if !(0..=20).contains(&self.wait_seconds) {
            return Err(format!("wait_seconds must be 0–20, got {}", self.wait_seconds));
        }
        if self.visibility_timeout_seconds < 10 {
            return Err(format!("visibility_timeout_seconds must be at least 10, got {}", self.visibility_timeout_seconds));
        }
        if self.commit_every_messages == 0 {
            return Err("commit_every_messages must be at least 1".into());
        }
        Ok(())
    }
}

/// A received message whose units are being read.
struct Pending {
    receipt: String,
    units: Vec<String>,
    /// Since when the message is invisible for the visibility timeout.
    visible_since: Instant,
}

/// The loop over one queue.
pub struct QueueLoop<'a> {
    /// The client.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue.
    pub queue_url: &'a str,
    /// How to use it.
    pub settings: &'a QueueSettings,
    /// The source's id, for errors.
    pub source_id: String,
    /// The source kind, stamped on dead-lettered messages.
    pub kind: &'static str,
}

impl QueueLoop<'_> {
    fn fail(&self, what: &str, e: AwsError) -> SourceError {
        let message = match e.code.as_str() {
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => format!("queue {} does not exist ({})", self.queue_url, e.code),
            _ => format!("{what} on {}: {e}", self.queue_url),
        };
        SourceError { source_id: self.source_id.clone(), message }
    }

    /// Dead-letters a message (as a record, with its body); returns the unit it is tracked as.
    fn dead_letter(&self, ctx: &mut SourceContext<'_>, message_id: &str, body: &str, reason: String) -> String {
        let object = format!("{}#{message_id}", self.queue_url);
        let info = ObjectInfo { connector: ctx.connector(), source_kind: self.kind, aws_account_id: None, region: None, object: object.clone() };
        ctx.unreadable_unit(info, Checkpoint::Done, reason, Some(body.as_bytes()));
        object
    }

    /// Keeps messages that have been invisible for half the timeout invisible for longer.
    fn extend_visibility(&self, pending: &mut [Pending]) {
        let half = Duration::from_secs(self.settings.visibility_timeout_seconds as u64 / 2);
        let mut due: Vec<&mut Pending> = pending.iter_mut().filter(|p| p.visible_since.elapsed() >= half).collect();
        for chunk in due.chunks_mut(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&p.receipt)
                        .visibility_timeout(self.settings.visibility_timeout_seconds)
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let req = self.sqs.change_message_visibility_batch().queue_url(self.queue_url).set_entries(Some(entries));
            match runtime().block_on(req.send()) {
                Ok(_) => {
                    tracing::debug!(messages = chunk.len(), "extended message visibility");
                    chunk.iter_mut().for_each(|p| p.visible_since = Instant::now());
                }
                Err(e) => tracing::warn!(queue = %self.queue_url, "cannot extend message visibility: {}", describe(&e, "sqs:ChangeMessageVisibility")),
            }
        }
    }

    fn delete(&self, receipts: &[String]) {
        for chunk in receipts.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().expect("id and receipt handle are set"))
                .collect();
            let req = self.sqs.delete_message_batch().queue_url(self.queue_url).set_entries(Some(entries));
            match runtime().block_on(req.send()) {
                Ok(out) => {
                    for f in out.failed() {
                        // The message comes back; its units are done by then and are skipped.
                        tracing::warn!(queue = %self.queue_url, code = f.code(), "cannot delete a message: {}", f.message().unwrap_or(""));
                    }
                }
                Err(e) => tracing::warn!(queue = %self.queue_url, "cannot delete messages (they will be received again and skipped): {}", describe(&e, "sqs:DeleteMessage")),
            }
        }
    }

    /// Commits every pending message's units, then deletes the messages (but those with a
    /// unit to retry).
    fn settle(&self, ctx: &mut SourceContext<'_>, pending: &mut Vec<Pending>, to_retry: &HashSet<String>) -> Result<(), SourceError> {
        if pending.is_empty() {
            return Ok(());
        }
        let wait = ctx.request_commit();
        loop {
            match wait.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(())) => break,
                Ok(Err(e)) => return Err(SourceError { source_id: self.source_id.clone(), message: format!("not deleting messages: the commit failed: {e}") }),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => self.extend_visibility(pending),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(SourceError { source_id: self.source_id.clone(), message: "not deleting messages: the pipeline stopped".into() });
                }
            }
        }
        let receipts: Vec<String> = pending.drain(..).filter(|p| !p.units.iter().any(|u| to_retry.contains(u))).map(|p| p.receipt).collect();
        self.delete(&receipts);
        Ok(())
    }

    /// Receives until the queue is drained (or the time is up), reading every message with
    /// `reader`.
    pub fn run(&self, ctx: &mut SourceContext<'_>, reader: &mut dyn MessageReader) -> Result<(), SourceError> {
        let deadline = self.settings.max_duration.map(|d| Instant::now() + d);
        let mut pending: Vec<Pending> = Vec::new();
        loop {
            if ctx.stopping() {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::info!(queue = %self.queue_url, "--max-duration reached; finishing");
                break;
            }
            let receive = self
                .sqs
                .receive_message()
                .queue_url(self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(self.settings.wait_seconds)
                .visibility_timeout(self.settings.visibility_timeout_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
            let received_at = Instant::now();
            let out = runtime().block_on(receive.send()).map_err(|e| self.fail("sqs:ReceiveMessage", describe(&e, "sqs:ReceiveMessage")))?;
            let messages = out.messages();
            if messages.is_empty() {
                tracing::debug!(queue = %self.queue_url, "queue drained");
                break;
            }
            let mut ignorable = Vec::new();
            for m in messages {
                let (Some(receipt), body) = (m.receipt_handle(), m.body().unwrap_or("")) else { continue };
                let id = m.message_id().unwrap_or("unknown");
                let count: u32 = m.attributes().and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount)).and_then(|c| c.parse().ok()).unwrap_or(1);
                let units = if count > self.settings.max_receive_count {
                    let reason = format!("message received {count} times, over max_receive_count = {}; giving up on it", self.settings.max_receive_count);
                    vec![self.dead_letter(ctx, id, body, reason)]
                } else {
                    match reader.plan(ctx, id, body) {
                        Err(reason) => vec![self.dead_letter(ctx, id, body, reason)],
                        Ok(units) if units.is_empty() => {
                            ignorable.push(receipt.to_string());
                            continue;
                        }
                        Ok(units) => units,
                    }
                };
                pending.push(Pending { receipt: receipt.to_string(), units, visible_since: received_at });
            }
            self.delete(&ignorable);
            reader.read(ctx, &mut || self.extend_visibility(&mut pending));
            let oldest = pending.iter().map(|p| p.visible_since.elapsed()).max().unwrap_or_default();
            if pending.len() >= self.settings.commit_every_messages || oldest >= Duration::from_secs(self.settings.visibility_timeout_seconds as u64 / 2) {
                self.settle(ctx, &mut pending, reader.to_retry())?;
            }
        }
        self.settle(ctx, &mut pending, reader.to_retry())?;
        if !reader.to_retry().is_empty() {
            return Err(SourceError {
                source_id: self.source_id.clone(),
                message: format!("{} unit(s) could not be read; their messages stay on the queue for the next run (see the warnings above)", reader.to_retry().len()),
            });
        }
        Ok(())
    }
}
