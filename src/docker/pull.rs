//! What an image pull has done so far, from the daemon's progress messages: layers done of
//! layers seen, and bytes downloaded of the bytes announced. Shown on a terminal while a
//! build waits for its base image; never in a log.

use std::collections::BTreeMap;
use std::fmt;

use bollard::models::CreateImageInfo;

/// A pull under way.
#[derive(Debug, Default, Clone)]
pub struct PullProgress {
    /// Per layer: bytes downloaded, bytes in all (0 until announced), done.
    layers: BTreeMap<String, (u64, u64, bool)>,
}

impl PullProgress {
    /// Takes in one message of the pull's stream; whether it changed anything.
    pub fn update(&mut self, info: &CreateImageInfo) -> bool {
        let (Some(id), Some(status)) = (&info.id, &info.status) else {
            return false;
        };
        // Messages about the image as a whole name its tag or digest, not a layer.
        if id.contains(':') || id.contains('@') {
            return false;
        }
        let layer = self.layers.entry(id.clone()).or_default();
        match status.as_str() {
            "Downloading" => {
                if let Some(d) = &info.progress_detail {
                    layer.0 = d.current.unwrap_or(0).max(0) as u64;
                    layer.1 = d.total.unwrap_or(0).max(0) as u64;
                }
            }
            "Download complete" => layer.0 = layer.1,
            "Pull complete" | "Already exists" => layer.2 = true,
            _ => {}
        }
        true
    }
}

impl fmt::Display for PullProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = self.layers.values().filter(|l| l.2).count();
        let (got, all) = self
            .layers
            .values()
            .fold((0, 0), |(g, a), l| (g + l.0, a + l.1));
        let mb = |b: u64| b as f64 / 1e6;
        write!(f, "{done}/{} layers", self.layers.len())?;
        if all > 0 {
            write!(f, ", {:.1} of {:.1} MB", mb(got), mb(all))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    fn info(id: &str, status: &str, progress: Option<(i64, i64)>) -> CreateImageInfo {
        CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: progress.map(|(current, total)| ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn layers_and_bytes_add_up_as_the_daemon_reports_them() {
        let mut p = PullProgress::default();
        assert!(!p.update(&info("sha256:abc", "Pulling from base", None)));
        p.update(&info("a1", "Pulling fs layer", None));
        p.update(&info("b2", "Already exists", None));
        p.update(&info("a1", "Downloading", Some((1_500_000, 3_000_000))));
        assert_eq!(p.to_string(), "1/2 layers, 1.5 of 3.0 MB");
        p.update(&info("a1", "Download complete", None));
        p.update(&info("a1", "Pull complete", None));
        assert_eq!(p.to_string(), "2/2 layers, 3.0 of 3.0 MB");
    }
}
