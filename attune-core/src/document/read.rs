//! Reading one file from outside: only a regular file (a FIFO would block the reader), size
//! checked before it is opened and bounded while it is read, UTF-8 text.

use super::Problem;
use std::path::Path;

pub(crate) fn human(bytes: u64) -> String {
    // Display only: the rounding is fine.
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{bytes} bytes")
    }
}

/// What a file that is not a regular file is (a FIFO, a socket, a device, a directory).
pub(crate) fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}

/// The size of `path` (links followed) when it is a regular file of at most `max` bytes;
/// otherwise the problem, naming it `name`. Nothing is opened.
pub(crate) fn regular_file_len(path: &Path, name: &str, max: u64) -> Result<u64, Problem> {
    let meta = std::fs::metadata(path).map_err(|e| Problem::file(name, e.to_string()))?;
    if !meta.is_file() {
        return Err(Problem::file(
            name,
            format!(
                "is {}, not a regular file (not read)",
                kind_of(meta.file_type())
            ),
        ));
    }
    if meta.len() > max {
        return Err(Problem::file(
            name,
            format!(
                "file is {}; the limit is {} (PackOptions::max_file_bytes)",
                human(meta.len()),
                human(max)
            ),
        ));
    }
    Ok(meta.len())
}

/// Reads the regular file `path` as UTF-8 text, at most `max` bytes (kind and size checked
/// before it is opened, and the size bounded while reading in case it grows); `name` is how
/// problems name it. A FIFO, socket or device is a problem, never opened.
pub(crate) fn read_bounded(path: &Path, name: &str, max: u64) -> Result<String, Problem> {
    regular_file_len(path, name, max)?;
    read_checked(path, name, max)
}

/// [`read_bounded`] of a file whose kind and size were just checked ([`regular_file_len`]).
pub(crate) fn read_checked(path: &Path, name: &str, max: u64) -> Result<String, Problem> {
    let mut bytes = Vec::new();
    let mut file = std::fs::File::open(path).map_err(|e| Problem::file(name, e.to_string()))?;
    // Swapped for something else since the check: refuse it too.
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Problem::file(name, "is not a regular file (not read)"));
    }
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, max + 1), &mut bytes)
        .map_err(|e| Problem::file(name, e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(Problem::file(
            name,
            "file grew past the size limit while it was read",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        Problem::file(
            name,
            format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}
