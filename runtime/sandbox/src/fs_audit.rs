//! Filesystem calls with an audit: the host side of `wasi:filesystem/types`, delegated to
//! wasmtime-wasi unchanged, except that every operation the host refuses for lack of permission
//! (a write under a read-only mount, a path or symlink leading out of a mount) is recorded as a
//! `filesystem` denial for the usage report and logged as a security event.
//!
//! Paths outside every mount never reach the host at all: the guest's libc finds no mount for
//! them and fails on its own, so those cannot be reported.

use crate::outbound::SharedLog;
use cordon_core::{Denial, DenialKind};
use std::sync::PoisonError;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

/// Marker for the linker: the audited filesystem view.
pub(crate) struct AuditedFs;

impl HasData for AuditedFs {
    type Data<'a> = AuditedFsView<'a>;
}

pub(crate) struct AuditedFsView<'a> {
    pub(crate) inner: WasiFilesystemCtxView<'a>,
    pub(crate) log: &'a SharedLog,
}

impl AuditedFsView<'_> {
    fn audit<T>(&self, result: &FsResult<T>, target: impl FnOnce() -> String) {
        let Err(e) = result else { return };
        let Some(code) = e.downcast_ref() else { return };
        if !matches!(
            code,
            ErrorCode::NotPermitted | ErrorCode::Access | ErrorCode::ReadOnly
        ) {
            return;
        }
        self.record(target(), code.name());
    }

    /// A filesystem denial: in the usage report, and logged as a security event.
    fn record(&self, target: String, reason: &str) {
        tracing::warn!(target: "cordon::security", kind = "filesystem", target_path = target, reason, "operation denied");
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .denials
            .push(Denial {
                kind: DenialKind::Filesystem,
                target,
                reason: reason.to_owned(),
            });
    }
}

impl AuditedFsView<'_> {
    /// Records a refusal the audited view makes itself (not wasmtime-wasi).
    fn refuse(&self, target: String, reason: &str) -> FsResult<()> {
        self.record(target, reason);
        Err(ErrorCode::NotPermitted.into())
    }
}

/// Whether a symbolic link whose text is `target` could resolve outside the mount it is made
/// in: an absolute target, or any `..` component. wasmtime-wasi never follows such a link out of
/// a mount, but the link stays on the host for other programs to follow, so it is not made at
/// all. A target that only goes down resolves inside the mount wherever the link sits, so a
/// link refused by nothing here stays harmless when it, or a directory holding it, is later
/// renamed or hard-linked elsewhere in the mount (a depth-based rule would not: a rename, or a
/// symlink earlier in the link's own path, changes the depth it resolves from).
pub(crate) fn link_escapes(target: &str) -> bool {
    target.starts_with('/') || target.contains('\0') || target.split('/').any(|part| part == "..")
}

impl types::Host for AuditedFsView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDirectoryEntryStream for AuditedFsView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

impl HostDescriptor for AuditedFsView<'_> {
    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        let result = HostDescriptor::advise(&mut self.inner, fd, offset, len, advice).await;
        self.audit(&result, || "advise".to_owned());
        result
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        let result = HostDescriptor::sync_data(&mut self.inner, fd).await;
        self.audit(&result, || "sync-data".to_owned());
        result
    }

    async fn get_flags(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorFlags> {
        let result = HostDescriptor::get_flags(&mut self.inner, fd).await;
        self.audit(&result, || "get-flags".to_owned());
        result
    }

    async fn get_type(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorType> {
        let result = HostDescriptor::get_type(&mut self.inner, fd).await;
        self.audit(&result, || "get-type".to_owned());
        result
    }

    async fn set_size(
        &mut self,
        fd: Resource<types::Descriptor>,
        size: types::Filesize,
    ) -> FsResult<()> {
        let result = HostDescriptor::set_size(&mut self.inner, fd, size).await;
        self.audit(&result, || "set-size".to_owned());
        result
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let result = HostDescriptor::set_times(&mut self.inner, fd, atim, mtim).await;
        self.audit(&result, || "set-times".to_owned());
        result
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        let result = HostDescriptor::read(&mut self.inner, fd, len, offset).await;
        self.audit(&result, || "read".to_owned());
        result
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        let result = HostDescriptor::write(&mut self.inner, fd, buf, offset).await;
        self.audit(&result, || "write".to_owned());
        result
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        let result = HostDescriptor::read_directory(&mut self.inner, fd).await;
        self.audit(&result, || "read-directory".to_owned());
        result
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        let result = HostDescriptor::sync(&mut self.inner, fd).await;
        self.audit(&result, || "sync".to_owned());
        result
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let target = format!("create-directory-at {path}");
        let result = HostDescriptor::create_directory_at(&mut self.inner, fd, path).await;
        self.audit(&result, || target);
        result
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        let result = HostDescriptor::stat(&mut self.inner, fd).await;
        self.audit(&result, || "stat".to_owned());
        result
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        let target = format!("stat-at {path}");
        let result = HostDescriptor::stat_at(&mut self.inner, fd, path_flags, path).await;
        self.audit(&result, || target);
        result
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let target = format!("set-times-at {path}");
        let result =
            HostDescriptor::set_times_at(&mut self.inner, fd, path_flags, path, atim, mtim).await;
        self.audit(&result, || target);
        result
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let target = format!("link-at {old_path} -> {new_path}");
        // A hard link to a symbolic link is a second symbolic link elsewhere, whose relative
        // target then resolves from another directory: refused.
        let probe = Resource::new_borrow(fd.rep());
        let stat = HostDescriptor::stat_at(
            &mut self.inner,
            probe,
            types::PathFlags::empty(),
            old_path.clone(),
        )
        .await;
        if stat.is_ok_and(|s| s.type_ == types::DescriptorType::SymbolicLink) {
            return self.refuse(target, "hard link to a symbolic link");
        }
        let new_dir = new_descriptor.rep();
        let result = HostDescriptor::link_at(
            &mut self.inner,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path.clone(),
        )
        .await;
        self.audit(&result, || target.clone());
        if result.is_ok() {
            // The source may have been swapped for a symbolic link between the check and the
            // link (another call sharing the mount): check what was made, and undo it.
            let made = HostDescriptor::stat_at(
                &mut self.inner,
                Resource::new_borrow(new_dir),
                types::PathFlags::empty(),
                new_path.clone(),
            )
            .await;
            if made.is_ok_and(|s| s.type_ == types::DescriptorType::SymbolicLink) {
                let _ = HostDescriptor::unlink_file_at(
                    &mut self.inner,
                    Resource::new_borrow(new_dir),
                    new_path,
                )
                .await;
                return self.refuse(target, "hard link to a symbolic link");
            }
        }
        result
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        let target = format!("open-at {path}");
        let result =
            HostDescriptor::open_at(&mut self.inner, fd, path_flags, path, oflags, flags).await;
        self.audit(&result, || target);
        result
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        let target = format!("readlink-at {path}");
        let result = HostDescriptor::readlink_at(&mut self.inner, fd, path).await;
        self.audit(&result, || target);
        result
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let target = format!("remove-directory-at {path}");
        let result = HostDescriptor::remove_directory_at(&mut self.inner, fd, path).await;
        self.audit(&result, || target);
        result
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let target = format!("rename-at {old_path} -> {new_path}");
        let result =
            HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path).await;
        self.audit(&result, || target);
        result
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        let target = format!("symlink-at {src_path} -> {dest_path}");
        if link_escapes(&src_path) {
            return self.refuse(target, "symbolic link target is absolute or climbs with ..");
        }
        let result = HostDescriptor::symlink_at(&mut self.inner, fd, src_path, dest_path).await;
        self.audit(&result, || target);
        result
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let target = format!("unlink-file-at {path}");
        let result = HostDescriptor::unlink_file_at(&mut self.inner, fd, path).await;
        self.audit(&result, || target);
        result
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        let result = HostDescriptor::read_via_stream(&mut self.inner, fd, offset);
        self.audit(&result, || "read-via-stream".to_owned());
        result
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let result = HostDescriptor::write_via_stream(&mut self.inner, fd, offset);
        self.audit(&result, || "write-via-stream".to_owned());
        result
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let result = HostDescriptor::append_via_stream(&mut self.inner, fd);
        self.audit(&result, || "append-via-stream".to_owned());
        result
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.inner, a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        let result = HostDescriptor::metadata_hash(&mut self.inner, fd).await;
        self.audit(&result, || "metadata-hash".to_owned());
        result
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let target = format!("metadata-hash-at {path}");
        let result = HostDescriptor::metadata_hash_at(&mut self.inner, fd, path_flags, path).await;
        self.audit(&result, || target);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::link_escapes;

    #[test]
    fn link_targets_that_could_climb_out_are_refused() {
        for target in [
            "../outside/secret.txt",
            "/etc/passwd",
            "a/../../x",
            "..",
            "a/..",
            "x\0y",
        ] {
            assert!(link_escapes(target), "{target}");
        }
        for target in ["file.txt", "./a/./b", "a/b/c", "a..b", "..a/b"] {
            assert!(!link_escapes(target), "{target}");
        }
    }
}
