//! Publishing finished files to S3. An object appears whole or not at all: PutObject for
//! small files, a multipart upload (aborted on any failure) for large ones, both atomic on
//! S3's side. Parts carry CRC32 checksums, which S3 verifies.

use std::{io::Read, path::Path};

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart},
};

use super::SinkError;
use crate::aws::{describe, runtime};

/// An S3 prefix that a sink publishes into.
pub struct S3Destination {
    /// Client with the output's credentials.
    pub client: aws_sdk_s3::Client,
    /// Bucket.
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Files at least this large use a multipart upload.
    pub multipart_threshold: u64,
    /// Part size of multipart uploads (S3's minimum is 5 MiB).
    pub part_size: u64,
}

impl S3Destination {
    /// The key of a path relative to the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.prefix) }
    }

    /// `s3://bucket/key` of a relative path.
    pub fn url(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(rel))
    }

    /// Uploads `file` to `rel`.
    pub fn upload(&self, file: &Path, rel: &str) -> Result<(), SinkError> {
        let key = self.key(rel);
        let url = self.url(rel);
        let size = std::fs::metadata(file).map_err(|e| SinkError::new(file.display(), e))?.len();
        if size < self.multipart_threshold {
            runtime().block_on(async {
                let body = ByteStream::from_path(file).await.map_err(|e| SinkError::new(file.display(), e))?;
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| SinkError::new(&url, describe(&e, "s3:PutObject")))?;
                Ok(())
            })
        } else {
            self.multipart(file, &key, &url)
        }
    }

    fn multipart(&self, file: &Path, key: &str, url: &str) -> Result<(), SinkError> {
        let rt = runtime();
        let created = rt
            .block_on(self.client.create_multipart_upload().bucket(&self.bucket).key(key).checksum_algorithm(ChecksumAlgorithm::Crc32).send())
            .map_err(|e| SinkError::new(url, describe(&e, "s3:PutObject")))?;
        let upload_id = created.upload_id().ok_or_else(|| SinkError::new(url, "CreateMultipartUpload returned no upload id"))?.to_string();
        let result = (|| -> Result<(), SinkError> {
            let mut f = std::fs::File::open(file).map_err(|e| SinkError::new(file.display(), e))?;
            let mut parts = Vec::new();
            let mut number = 1;
            loop {
                let mut buf = Vec::with_capacity(self.part_size as usize);
                (&mut f).take(self.part_size).read_to_end(&mut buf).map_err(|e| SinkError::new(file.display(), e))?;
                if buf.is_empty() {
                    break;
                }
                let out = rt
                    .block_on(
                        self.client
                            .upload_part()
                            .bucket(&self.bucket)
                            .key(key)
                            .upload_id(&upload_id)
                            .part_number(number)
                            .checksum_algorithm(ChecksumAlgorithm::Crc32)
                            .body(ByteStream::from(buf))
                            .send(),
                    )
                    .map_err(|e| SinkError::new(url, format!("part {number}: {}", describe(&e, "s3:PutObject"))))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                        .build(),
                );
                number += 1;
            }
            rt.block_on(
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send(),
            )
            .map_err(|e| SinkError::new(url, describe(&e, "s3:PutObject")))?;
            Ok(())
        })();
        if result.is_err() {
            // Nothing of a failed upload may linger (or be billed).
            let abort = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id).send();
            if let Err(e) = rt.block_on(abort) {
                tracing::warn!(object = %url, "cannot abort the failed multipart upload {upload_id}: {}", describe(&e, "s3:AbortMultipartUpload"));
            }
        }
        result
    }
}
