//! The buffer file on disk: locking, write-ahead appends in O(record), limits, atomic
//! rewrites, and moving damage aside.

use super::format::{self, Damage, FRAME_HEADER_LEN, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a record could not be buffered.
#[derive(Debug)]
pub(crate) enum BufferError {
    Io(io::Error),
    TooLarge { length: usize, limit: u64 },
    Locked,
}

impl std::fmt::Display for BufferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BufferError::Io(e) => write!(f, "{e}"),
            BufferError::TooLarge { length, limit } => write!(
                f,
                "the record ({length} bytes) is larger than the buffer limit ({limit} bytes)"
            ),
            BufferError::Locked => f.write_str("another process holds the buffer lock"),
        }
    }
}

impl From<io::Error> for BufferError {
    fn from(e: io::Error) -> Self {
        BufferError::Io(e)
    }
}

/// A buffer file and its limits.
#[derive(Clone, Debug)]
pub(crate) struct BufferFile {
    path: PathBuf,
    max_events: usize,
    max_bytes: u64,
}

/// The buffer, locked against other processes until dropped.
pub(crate) struct LockedBuffer<'a> {
    buffer: &'a BufferFile,
    _lock: File,
}

/// Where the frames of a file are, read from their headers only.
struct Layout {
    /// (offset, framed length) of each whole frame.
    frames: Vec<(u64, u64)>,
    /// The end of the last whole frame (`HEADER_LEN` with none; 0 for no file).
    valid_len: u64,
    damage: Option<Damage>,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

impl BufferFile {
    pub(crate) fn new(path: PathBuf, max_events: u32, max_size_mib: u32) -> Self {
        BufferFile {
            path,
            max_events: max_events as usize,
            max_bytes: u64::from(max_size_mib) * 1024 * 1024,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the advisory lock (`<path>.lock`), waiting at most `wait`. Creates the parent
    /// directories.
    pub(crate) fn lock(&self, wait: Duration) -> Result<LockedBuffer<'_>, BufferError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(sibling(&self.path, ".lock"))?;
        let deadline = Instant::now() + wait;
        loop {
            match lock.try_lock() {
                Ok(()) => {
                    return Ok(LockedBuffer {
                        buffer: self,
                        _lock: lock,
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(BufferError::Locked),
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }
}

impl LockedBuffer<'_> {
    fn path(&self) -> &Path {
        &self.buffer.path
    }

    /// Reads the frame headers only: O(records), whatever their size.
    fn layout(&self) -> io::Result<Layout> {
        let file = match File::open(self.path()) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Layout {
                    frames: Vec::new(),
                    valid_len: 0,
                    damage: None,
                });
            }
            Err(e) => return Err(e),
        };
        let file_len = file.metadata()?.len();
        if file_len == 0 {
            return Ok(Layout {
                frames: Vec::new(),
                valid_len: 0,
                damage: None,
            });
        }
        let mut header = [0u8; HEADER_LEN];
        if file_len < HEADER_LEN as u64
            || file.read_exact_at(&mut header, 0).is_err()
            || !format::header_ok(&header)
        {
            return Ok(Layout {
                frames: Vec::new(),
                valid_len: 0,
                damage: Some(Damage::ForeignHeader),
            });
        }
        let mut frames = Vec::new();
        let mut offset = HEADER_LEN as u64;
        while offset < file_len {
            let mut head = [0u8; FRAME_HEADER_LEN];
            let end = match file.read_exact_at(&mut head, offset) {
                Ok(()) => offset + FRAME_HEADER_LEN as u64 + format::frame_header(&head).0,
                Err(_) => u64::MAX,
            };
            if end > file_len {
                return Ok(Layout {
                    frames,
                    valid_len: offset,
                    damage: Some(Damage::TornTail),
                });
            }
            frames.push((offset, end - offset));
            offset = end;
        }
        Ok(Layout {
            frames,
            valid_len: offset,
            damage: None,
        })
    }

    /// Appends one record (write-ahead), after repairing a damaged file; evicts the oldest
    /// records when a limit would be passed.
    pub(crate) fn append(&self, record: &[u8]) -> Result<(), BufferError> {
        let framed = format::frame(record).ok_or(BufferError::TooLarge {
            length: record.len(),
            limit: self.buffer.max_bytes,
        })?;
        if (HEADER_LEN + framed.len()) as u64 > self.buffer.max_bytes {
            return Err(BufferError::TooLarge {
                length: record.len(),
                limit: self.buffer.max_bytes,
            });
        }
        let mut layout = self.layout()?;
        if layout.damage.is_some() {
            self.read_all()?;
            layout = self.layout()?;
        }
        let mut size = layout.valid_len.max(HEADER_LEN as u64) + framed.len() as u64;
        let full = layout.frames.len() + 1 > self.buffer.max_events || size > self.buffer.max_bytes;
        let mut keep_from = 0;
        if full {
            // Make room for a tenth more, so that a full buffer is rewritten once every few
            // hooks rather than on every append.
            let max_events = self.buffer.max_events - (self.buffer.max_events / 10);
            let max_bytes = self.buffer.max_bytes - self.buffer.max_bytes / 10;
            while keep_from < layout.frames.len()
                && (layout.frames.len() - keep_from + 1 > max_events || size > max_bytes)
            {
                size -= layout.frames[keep_from].1;
                keep_from += 1;
            }
        }
        if keep_from > 0 {
            log::warn!(
                "charm-tracing: buffer {} is full; dropping the {keep_from} oldest trace(s)",
                self.path().display()
            );
            return self.rewrite_frames(&layout.frames[keep_from..], Some(&framed));
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.path())?;
        if layout.valid_len == 0 {
            let mut first = format::header().to_vec();
            first.extend_from_slice(&framed);
            file.write_all(&first)?;
        } else {
            file.write_all(&framed)?;
        }
        Ok(())
    }

    /// Every valid record, oldest first. Damage is moved to `<path>.corrupt` (one error
    /// line) and the file rewritten with the valid records.
    pub(crate) fn read_all(&self) -> io::Result<Vec<Vec<u8>>> {
        let bytes = match std::fs::read(self.path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let parsed = format::parse(&bytes);
        let records: Vec<Vec<u8>> = parsed.records.iter().map(|r| r.to_vec()).collect();
        if let Some(damage) = parsed.damage {
            let corrupt = sibling(self.path(), ".corrupt");
            let damaged: Vec<u8> = parsed
                .bad
                .iter()
                .flat_map(|range| bytes[range.clone()].iter().copied())
                .collect();
            let moved = create_private(&corrupt).and_then(|mut f| f.write_all(&damaged));
            log::error!(
                "charm-tracing: buffer {} is damaged ({damage}): kept {} valid trace(s), moved \
                 {} byte(s) to {}{}",
                self.path().display(),
                records.len(),
                damaged.len(),
                corrupt.display(),
                moved
                    .err()
                    .map(|e| format!(" (failed: {e})"))
                    .unwrap_or_default()
            );
            self.rewrite(&records)?;
        }
        Ok(records)
    }

    /// Replaces the buffer with `records` (temp file + rename); no records, no file.
    pub(crate) fn rewrite(&self, records: &[Vec<u8>]) -> io::Result<()> {
        if records.is_empty() {
            return match std::fs::remove_file(self.path()) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut bytes = format::header().to_vec();
        for record in records {
            bytes
                .extend(format::frame(record).ok_or_else(|| io::Error::other("record too large"))?);
        }
        self.replace_with(&bytes)
    }

    /// Rewrites keeping `frames` of the current file, plus `extra` (already framed).
    fn rewrite_frames(
        &self,
        frames: &[(u64, u64)],
        extra: Option<&[u8]>,
    ) -> Result<(), BufferError> {
        let file = File::open(self.path())?;
        let mut bytes = format::header().to_vec();
        for (offset, length) in frames {
            let start = bytes.len();
            bytes.resize(start + *length as usize, 0);
            file.read_exact_at(&mut bytes[start..], *offset)?;
        }
        if let Some(extra) = extra {
            bytes.extend_from_slice(extra);
        }
        Ok(self.replace_with(&bytes)?)
    }

    fn replace_with(&self, bytes: &[u8]) -> io::Result<()> {
        let temp = sibling(self.path(), &format!(".tmp.{}", std::process::id()));
        let written = create_private(&temp).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written.and_then(|()| std::fs::rename(&temp, self.path())) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("charm-tracing-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn appends_then_reads_in_order_and_creates_parents_with_mode_0600() {
        let dir = temp_dir("order");
        let buffer = BufferFile::new(dir.join("a/b/buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        locked.append(b"one").unwrap();
        locked.append(b"two").unwrap();
        assert_eq!(
            locked.read_all().unwrap(),
            vec![b"one".to_vec(), b"two".to_vec()]
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(buffer.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        locked.rewrite(&[]).unwrap();
        assert!(!buffer.path().exists());
    }

    #[test]
    fn event_limit_evicts_the_oldest() {
        let dir = temp_dir("events");
        let buffer = BufferFile::new(dir.join("buffer"), 3, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        for i in 0..5u8 {
            locked.append(&[i; 4]).unwrap();
        }
        let records = locked.read_all().unwrap();
        assert_eq!(records, vec![vec![2; 4], vec![3; 4], vec![4; 4]]);
        let many = BufferFile::new(dir.join("many"), 20, 10);
        let locked = many.lock(Duration::from_millis(100)).unwrap();
        for i in 0..21u8 {
            locked.append(&[i; 4]).unwrap();
        }
        let records = locked.read_all().unwrap();
        assert_eq!(records.len(), 18, "full: the oldest tenth makes room");
        assert_eq!(records[0], vec![3; 4]);
        assert_eq!(records[17], vec![20; 4]);
    }

    #[test]
    fn size_limit_evicts_the_oldest_and_rejects_oversized_records() {
        let dir = temp_dir("size");
        let buffer = BufferFile::new(dir.join("buffer"), 100, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        let big = vec![7u8; 4 * 1024 * 1024];
        for _ in 0..3 {
            locked.append(&big).unwrap();
        }
        assert_eq!(
            locked.read_all().unwrap().len(),
            2,
            "10 MiB holds two 4 MiB records"
        );
        assert!(std::fs::metadata(buffer.path()).unwrap().len() <= 10 * 1024 * 1024);
        let huge = vec![1u8; 10 * 1024 * 1024];
        assert!(matches!(
            locked.append(&huge),
            Err(BufferError::TooLarge { .. })
        ));
        assert_eq!(locked.read_all().unwrap().len(), 2);
    }

    #[test]
    fn a_torn_tail_is_moved_aside_before_the_next_append() {
        let dir = temp_dir("torn");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        locked.append(b"kept").unwrap();
        locked.append(b"torn record").unwrap();
        let len = std::fs::metadata(buffer.path()).unwrap().len();
        let file = OpenOptions::new().write(true).open(buffer.path()).unwrap();
        file.set_len(len - 3).unwrap();
        locked.append(b"after").unwrap();
        assert_eq!(
            locked.read_all().unwrap(),
            vec![b"kept".to_vec(), b"after".to_vec()]
        );
        assert!(sibling(buffer.path(), ".corrupt").exists());
    }

    #[test]
    fn a_record_failing_its_checksum_does_not_take_later_appends_with_it() {
        let dir = temp_dir("checksum");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let locked = buffer.lock(Duration::from_millis(100)).unwrap();
        locked.append(&[1; 100]).unwrap();
        locked.append(&[2; 100]).unwrap();
        let mut bytes = std::fs::read(buffer.path()).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0xff;
        std::fs::write(buffer.path(), bytes).unwrap();
        locked.append(&[3; 100]).unwrap();
        assert_eq!(locked.read_all().unwrap(), vec![vec![1; 100], vec![3; 100]]);
        let corrupt = std::fs::read(sibling(buffer.path(), ".corrupt")).unwrap();
        assert_eq!(corrupt.len(), FRAME_HEADER_LEN + 100);
    }

    #[test]
    fn a_second_lock_waits_then_gives_up() {
        let dir = temp_dir("lock");
        let buffer = BufferFile::new(dir.join("buffer"), 10, 10);
        let _held = buffer.lock(Duration::from_millis(100)).unwrap();
        let started = Instant::now();
        assert!(matches!(
            buffer.lock(Duration::from_millis(50)),
            Err(BufferError::Locked)
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
