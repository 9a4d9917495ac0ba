//! `GET /v1/client/fs/stat/:alloc_id?path=` — `AllocFileInfo` of a path inside the alloc dir.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path as FsPath};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::PortCtx;
use super::reply::Reply;
use crate::clock::rfc3339_nano;

pub async fn stat(
    State(ctx): State<PortCtx>,
    Path(alloc_id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    let pretty = p.contains_key("pretty");
    let Some(path) = p.get("path").filter(|p| !p.is_empty()) else {
        return Reply::error(400, "must provide a file name").into_response();
    };
    let alloc_dir = ctx.sim.store.read(|s| {
        let alloc = s.allocs.get(&alloc_id)?;
        let node = s.node_by_id(&alloc.node_id)?;
        Some(node.alloc_dir().join(&alloc.id))
    });
    let Some(alloc_dir) = alloc_dir else {
        return Reply::error(404, format!("Unknown allocation {alloc_id:?}")).into_response();
    };
    let relative = FsPath::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Reply::error(500, "Path escapes the alloc directory").into_response();
    }
    let full = alloc_dir.join(relative);
    let meta = match std::fs::metadata(&full) {
        Ok(m) => m,
        Err(e) => {
            let text = if e.kind() == std::io::ErrorKind::NotFound {
                format!("stat {}: no such file or directory", full.display())
            } else {
                format!("stat {}: {e}", full.display())
            };
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                404
            } else {
                500
            };
            return Reply::error(code, text).into_response();
        }
    };
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    let name = full
        .file_name()
        .map_or_else(|| "/".to_string(), |n| n.to_string_lossy().into_owned());
    let info = json!({
        "ContentType": content_type(&full, meta.is_dir()),
        "FileMode": file_mode(meta.is_dir(), meta.permissions().mode()),
        "IsDir": meta.is_dir(),
        "ModTime": rfc3339_nano(modified),
        "Name": name,
        "Size": meta.len(),
    });
    Reply::json(&info, pretty).into_response()
}

/// Go's `os.FileMode.String()` for plain files and directories.
fn file_mode(is_dir: bool, mode: u32) -> String {
    let mut out = String::from(if is_dir { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}

/// `detectContentType`: `.json` is JSON; readable text is `text/plain; charset=utf-8`.
fn content_type(path: &FsPath, is_dir: bool) -> String {
    if is_dir {
        return "application/octet-stream".into();
    }
    if path.extension().is_some_and(|e| e == "json") {
        return "application/json".into();
    }
    let mut head = Vec::with_capacity(512);
    let read = std::fs::File::open(path).and_then(|f| f.take(512).read_to_end(&mut head));
    let texty = read.is_ok()
        && std::str::from_utf8(&head).is_ok()
        && !head
            .iter()
            .any(|b| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b));
    if texty {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}
