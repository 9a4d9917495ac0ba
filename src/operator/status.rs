//! `shepard status`: every rollout and every managed allocation's phase, from one listing of
//! the prefix, as tables or (`--json`) as the view serialized.

use std::io::Write;

use super::view::ClusterView;
use super::{Connection, OperatorError, render};
use crate::consul::Consistency;

/// Reads the whole prefix into a view.
pub async fn read_view(conn: &Connection) -> Result<ClusterView, OperatorError> {
    let pairs = conn
        .client
        .kv_list(conn.prefix.as_str(), Consistency::Default)
        .await?;
    Ok(ClusterView::from_pairs(&conn.prefix, &pairs))
}

/// Prints the status.
pub async fn status(
    conn: &Connection,
    json: bool,
    out: &mut impl Write,
) -> Result<(), OperatorError> {
    let view = read_view(conn).await?;
    if json {
        write_json(out, &view)?;
    } else {
        out.write_all(render::status(&view, conn.prefix.as_str()).as_bytes())?;
    }
    Ok(())
}

/// Pretty JSON and a final newline.
pub fn write_json(
    out: &mut impl Write,
    value: &impl serde::Serialize,
) -> Result<(), OperatorError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}
