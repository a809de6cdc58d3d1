//! Human-readable errno descriptions: `ENOMEM (Cannot allocate memory)`.

use std::io;

/// The symbolic name of an errno value (`ENOMEM`), as nix knows them for this target; `None`
/// for a value that is no errno. (Aliases give the canonical name: `EAGAIN`, not `EWOULDBLOCK`.)
pub fn errno_name(errno: i32) -> Option<String> {
    let e = nix::errno::Errno::from_raw(errno);
    (e != nix::errno::Errno::UnknownErrno).then(|| format!("{e:?}"))
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
        assert_eq!(errno_name(libc::ENOMEM).as_deref(), Some("ENOMEM"));
        assert_eq!(errno_name(libc::EINVAL).as_deref(), Some("EINVAL"));
        assert_eq!(errno_name(libc::EDQUOT).as_deref(), Some("EDQUOT"));
        assert_eq!(errno_name(libc::EWOULDBLOCK).as_deref(), Some("EAGAIN"));
        assert_eq!(errno_name(libc::EOPNOTSUPP).as_deref(), Some("EOPNOTSUPP"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-1), None);
        assert_eq!(errno_name(4000), None);
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
