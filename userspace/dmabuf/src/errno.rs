//! Human-readable errno descriptions: `ENOMEM (Cannot allocate memory)`.

use std::io;

/// The symbolic name of an errno value (`ENOMEM`), for the errnos these APIs can return.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIMEDOUT => "ETIMEDOUT",
        _ => return None,
    };
    Some(name)
}

/// `"ENOMEM (Cannot allocate memory)"`; unknown values give `"errno 123 (...)"`.
pub fn describe_errno(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    // std formats OS errors as "<strerror> (os error N)"; keep only the strerror text.
    let suffix = format!(" (os error {errno})");
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    match errno_name(errno) {
        Some(name) => format!("{name} ({text})"),
        None => format!("errno {errno} ({text})"),
    }
}

/// Like [`describe_errno`] for an OS error, `Display` for any other `io::Error`.
pub fn describe_io_error(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => describe_errno(errno),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_name(libc::ENOMEM), Some("ENOMEM"));
        assert_eq!(errno_name(libc::EINVAL), Some("EINVAL"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-1), None);
    }

    #[test]
    fn descriptions() {
        assert_eq!(describe_errno(libc::ENOMEM), "ENOMEM (Cannot allocate memory)");
        assert_eq!(describe_errno(libc::ENOENT), "ENOENT (No such file or directory)");
        assert!(describe_errno(4000).starts_with("errno 4000 ("));
        let e = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(describe_io_error(&e), "EINVAL (Invalid argument)");
        let e = io::Error::other("custom");
        assert_eq!(describe_io_error(&e), "custom");
    }
}
