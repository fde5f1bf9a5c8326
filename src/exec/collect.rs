//! Wheels out of a finished build container: `/wheelbuild/out` as a tar stream, spooled
//! to disk (bounded), extracted safely, each wheel checked against its RECORD and the
//! target's Python and platform.

use futures::StreamExt;

use super::{BuildError, Run, io_err, paths};
use crate::plan::PlannedTarget;
use crate::store::{Staging, WheelRecord};
use crate::wheel;

/// The most a build's output may hold: CUDA wheels run to hundreds of MB, not this.
const MAX_OUTPUT: u64 = 16 << 30;

impl Run<'_> {
    /// Take the wheels out of the container's output directory and check each.
    pub(super) async fn collect(
        &self,
        container: &str,
        t: &PlannedTarget<'_>,
        staging: &Staging,
    ) -> Result<Vec<WheelRecord>, BuildError> {
        let tar_path = staging.path().join("out.tar");
        {
            let mut file = tokio::fs::File::create(&tar_path)
                .await
                .map_err(|e| io_err("spooling the output archive", e))?;
            let mut stream = std::pin::pin!(self.engine.download(container, paths::OUT).await?);
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > MAX_OUTPUT {
                    return Err(io_err(
                        "spooling the output archive",
                        format!("the build's output exceeds {} GiB", MAX_OUTPUT >> 30),
                    ));
                }
                tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                    .await
                    .map_err(|e| io_err("spooling the output archive", e))?;
            }
            tokio::io::AsyncWriteExt::flush(&mut file)
                .await
                .map_err(|e| io_err("spooling the output archive", e))?;
        }
        let wheels_dir = staging.wheels_dir();
        let python = t.target.cell.get("python").unwrap_or_default().to_string();
        let platform = t.target.image.platform.wheel_tag().unwrap_or_default();
        tokio::task::spawn_blocking(move || -> Result<Vec<WheelRecord>, BuildError> {
            let file = std::fs::File::open(&tar_path)
                .map_err(|e| io_err("reading the output archive", e))?;
            let names =
                wheel::extract_wheels(std::io::BufReader::new(file), &wheels_dir, MAX_OUTPUT)?;
            let _ = std::fs::remove_file(&tar_path);
            if names.is_empty() {
                return Err(BuildError::NoWheel);
            }
            let mut records = Vec::new();
            for name in names {
                let info = wheel::check_wheel(&wheels_dir.join(&name))?;
                info.name
                    .fits(&python, &platform)
                    .map_err(|e| BuildError::WrongWheel {
                        file: name.clone(),
                        detail: e.to_string(),
                    })?;
                records.push(WheelRecord {
                    file: name,
                    sha256: info.sha256,
                    size: info.size,
                });
            }
            Ok(records)
        })
        .await
        .map_err(|e| io_err("checking wheels", e))?
    }
}
