//! Parquet output (zstd), the format Security Lake and most data lakes read.

use std::{collections::BTreeMap, fs::File, path::PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::{EnabledStatistics, WriterProperties},
    schema::types::ColumnPath,
};
use serde::{Deserialize, Serialize};

use super::{FileFormat, FileWriter, Layout};

/// `[[outputs]] type = "parquet"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetConfig {
    /// Root of the layout: a directory, or `s3://bucket/prefix`.
    pub path: PathBuf,
    /// How an `s3://` path reaches AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<super::S3OutputOptions>,
    /// Directory layout: `trawl` (default), or `security_lake` for exactly the layout of
    /// Amazon Security Lake custom sources, `ext/<custom source name>/region=…/accountId=…/eventDay=…/`.
    #[serde(default)]
    pub layout: Layout,
    /// `security_lake` layout: the custom source name of a class, by trawl's source name
    /// (`cloudtrail_api_activity = "trawl-ct-api"`). Default `<mapper>_<class_uid>`
    /// (`cloudtrail_6003`), cut to 20 characters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_names: BTreeMap<String, String>,
    /// Rows per row group. Default 32768: large enough for good compression and scans,
    /// small enough that an open file buffers only a few MB.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Memory for row groups being built, in MiB, across all open files of the output (one
    /// per partition): when exceeded, the largest is written out as a (smaller) row group.
    /// Default 16.
    #[serde(default = "default_buffer_mib")]
    pub buffer_mib: usize,
    /// zstd level, 1–22. Default 1: on the bench's CloudTrail corpora it wrote 4 % smaller
    /// files than level 3 (pages of one column are small and mostly dictionary indices, where
    /// the faster strategy does as well) and cost 2.3 % fewer instructions per run.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// Columns written without dictionary encoding: dotted paths as in the Parquet schema
    /// (`metadata.uid`; a list's items are `resources.list.element.uid`); paths a file does
    /// not have are ignored. Default: the OCSF fields that are unique per event. A dictionary
    /// of unique values saves nothing, and while a row group is built it holds every value
    /// plus an 8-byte index per row, so those columns alone made row groups smaller and peak
    /// memory higher (the bench: files 7% larger, peak RSS ~8% higher at 10× input).
    #[serde(default = "default_no_dictionary")]
    pub no_dictionary: Vec<String>,
    /// Columns written without min/max statistics, dotted paths like `no_dictionary`.
    /// Default: the JSON and free-text columns (`api.request.data`, `unmapped` values, …),
    /// which no query engine prunes by and whose statistics cost a comparison of every whole
    /// value (~1.3% of a CloudTrail run).
    #[serde(default = "default_no_statistics")]
    pub no_statistics: Vec<String>,
}

fn default_no_statistics() -> Vec<String> {
    ["api.request.data", "api.response.data", "unmapped.entries.value", "raw_data", "raw", "status_detail", "message", "http_request.user_agent", "enrichments.list.element.data"]
        .map(String::from)
        .to_vec()
}

fn default_no_dictionary() -> Vec<String> {
    ["time", "metadata.uid", "metadata.original_time", "metadata.logged_time", "api.request.uid", "finding_info.uid", "unmapped.entries.value", "raw_data", "raw", "byte_offset"]
        .map(String::from)
        .to_vec()
}

fn default_row_group_rows() -> usize {
    32_768
}
fn default_buffer_mib() -> usize {
    16
}
fn default_zstd_level() -> i32 {
    1
}

/// Largest data page, before compression, that Security Lake wants of a custom source (1 MB).
pub const SECURITY_LAKE_PAGE_BYTES: usize = 1 << 20;

/// The writer's data page limit (uncompressed). The writer checks it after each mini-batch of
/// values and then starts a new page, so a page can pass it by one mini-batch; for
/// variable-width columns a mini-batch is cut to at most the limit's worth of values. So a
/// page holds at most twice the limit: in the `security_lake` layout the limit is half of
/// Security Lake's 1 MB, which keeps every page within it unless one value (or one record of
/// a list column, which Parquet never splits across pages) is itself larger. The `trawl`
/// layout keeps parquet's usual 1 MiB.
fn data_page_limit(layout: Layout) -> usize {
    match layout {
        Layout::SecurityLake => SECURITY_LAKE_PAGE_BYTES / 2,
        Layout::Trawl => 1 << 20,
    }
}

/// Largest row group (estimated encoded size). Security Lake wants at most 256 MB compressed.
/// In practice row groups are far smaller: a row group ends at `row_group_rows` rows, or when
/// the output's open files together buffer more than `buffer_mib` (default 16) and it is the
/// biggest buffer — and what a row group buffers is its encoded, compressed pages plus the
/// page being filled, so its size in the file is at most about `buffer_mib` plus one batch.
/// This cap makes the bound hold whatever those settings are (a large `buffer_mib`, a huge
/// batch), with room to spare.
pub const MAX_ROW_GROUP_BYTES: usize = 128 << 20;

impl FileFormat for ParquetConfig {
    fn extension(&self) -> &'static str {
        "parquet"
    }

    fn open(&self, file: File, schema: SchemaRef) -> Result<Box<dyn FileWriter>, String> {
        let level = ZstdLevel::try_new(self.zstd_level).map_err(|e| format!("zstd_level: {e}"))?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_data_page_size_limit(data_page_limit(self.layout))
            .set_dictionary_page_size_limit(1 << 20)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(MAX_ROW_GROUP_BYTES))
            .set_created_by(format!("trawl {}", env!("CARGO_PKG_VERSION")));
        let path = |p: &str| ColumnPath::new(p.split('.').map(String::from).collect());
        for p in &self.no_dictionary {
            props = props.set_column_dictionary_enabled(path(p), false);
        }
        for p in &self.no_statistics {
            props = props.set_column_statistics_enabled(path(p), EnabledStatistics::None);
        }
        let props = props.build();
        let w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
        Ok(Box::new(ParquetWriter { writer: w }))
    }

    fn buffer_budget(&self) -> usize {
        self.buffer_mib.max(1) << 20
    }
}

struct ParquetWriter {
    writer: ArrowWriter<File>,
}

impl FileWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.writer.write(batch).map_err(|e| e.to_string())
    }

    fn buffered_bytes(&self) -> usize {
        self.writer.memory_size()
    }

    fn flush_buffered(&mut self) -> Result<(), String> {
        self.writer.flush().map_err(|e| e.to_string())
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        let file = self.writer.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| format!("fsync: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, ListArray, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::{
        column::page::Page,
        file::reader::{FileReader, SerializedFileReader},
    };

    use super::*;

    /// The largest data page (uncompressed) in a Parquet file, and its number of row groups.
    fn largest_page(path: &std::path::Path) -> (usize, usize) {
        let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let mut largest = 0;
        for g in 0..r.num_row_groups() {
            let rg = r.get_row_group(g).unwrap();
            for c in 0..rg.num_columns() {
                for page in rg.get_column_page_reader(c).unwrap() {
                    if let p @ (Page::DataPage { .. } | Page::DataPageV2 { .. }) = page.unwrap() {
                        largest = largest.max(p.buffer().len());
                    }
                }
            }
        }
        (largest, r.num_row_groups())
    }

    /// Rows with a 3 kB string each (as `raw_data` is, without a dictionary) and a list of
    /// 1 kB strings: a mini-batch of 1024 rows is 3 MB, far over a page.
    fn wide_batch(rows: usize, seed: usize) -> RecordBatch {
        let text = |i: usize, n: usize| format!("{i:08}").repeat(n / 8);
        let raw: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(|i| text(seed + i, 3000))));
        let time: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i as i64)));
        let items = StringArray::from_iter_values((0..rows * 2).map(|i| text(seed + i, 1000)));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(2, rows));
        let item = Arc::new(Field::new("element", DataType::Utf8, true));
        let list: ArrayRef = Arc::new(ListArray::new(item.clone(), offsets, Arc::new(items), None));
        let schema = Arc::new(Schema::new(vec![
            Field::new("raw_data", DataType::Utf8, true),
            Field::new("time", DataType::Int64, true),
            Field::new("observables", DataType::List(item), true),
        ]));
        RecordBatch::try_new(schema, vec![raw, time, list]).unwrap()
    }

    fn write(layout: &str, batches: &[RecordBatch]) -> (usize, usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let cfg: ParquetConfig = toml::from_str(&format!("path = \"x\"\nlayout = \"{layout}\"\nno_dictionary = [\"raw_data\", \"observables.list.element\"]")).unwrap();
        let mut w = cfg.open(File::create(&path).unwrap(), batches[0].schema()).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        largest_page(&path)
    }

    #[test]
    fn security_lake_layout_keeps_every_data_page_within_1_mib_uncompressed() {
        let batches: Vec<RecordBatch> = (0..4).map(|i| wide_batch(1024, i * 1024)).collect();
        let (largest, groups) = write("security_lake", &batches);
        assert!(largest <= SECURITY_LAKE_PAGE_BYTES, "a data page holds {largest} bytes uncompressed, over 1 MiB");
        assert!(largest > SECURITY_LAKE_PAGE_BYTES / 4, "pages are not cut needlessly small: {largest}");
        assert_eq!(groups, 1);
        // The writer's own 1 MiB limit alone lets pages pass 1 MiB by up to a mini-batch:
        // the reason the layout halves it.
        let (largest, _) = write("trawl", &batches);
        assert!(largest > SECURITY_LAKE_PAGE_BYTES, "{largest}");
    }

    /// The default leaves min/max statistics out of the free-text columns only.
    #[test]
    fn free_text_columns_have_no_statistics_and_the_rest_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let cfg: ParquetConfig = toml::from_str("path = \"x\"").unwrap();
        let batch = wide_batch(10, 0);
        let mut w = cfg.open(File::create(&path).unwrap(), batch.schema()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        let r = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let rg = r.metadata().row_group(0);
        let stats = |name: &str| rg.columns().iter().find(|c| c.column_path().string() == name).unwrap().statistics().is_some_and(|s| s.min_bytes_opt().is_some());
        assert!(!stats("raw_data"));
        assert!(stats("time"));
        assert!(stats("observables.list.element"));
    }
}
