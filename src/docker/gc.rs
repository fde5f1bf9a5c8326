//! What `gc` asks of an engine: the images of a repository and the volumes of a label,
//! listed, and removed unless something still uses them (never by force).

use std::collections::BTreeMap;

use bollard::query_parameters::{
    ListImagesOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
};

use super::{DockerError, Engine};

impl Engine {
    /// Images of repository `repo` (every tag): `repo:tag`, creation time and size.
    pub async fn tagged_images(&self, repo: &str) -> Result<Vec<TaggedImage>, DockerError> {
        let filters = std::collections::HashMap::from([("reference", vec![repo])]);
        let options = ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker()
            .await?
            .list_images(Some(options))
            .await
            .map_err(|e| DockerError::Api {
                call: "list images",
                detail: e.to_string(),
            })?;
        let prefix = format!("{repo}:");
        let mut out: Vec<TaggedImage> = list
            .into_iter()
            .flat_map(|i| {
                let (created, size) = (i.created, u64::try_from(i.size).unwrap_or(0));
                let labels: BTreeMap<String, String> = i.labels.into_iter().collect();
                i.repo_tags
                    .into_iter()
                    .filter(|t| t.starts_with(&prefix))
                    .map(move |tag| TaggedImage {
                        tag,
                        created,
                        size,
                        labels: labels.clone(),
                    })
            })
            .collect();
        out.sort_by(|a, b| a.tag.cmp(&b.tag));
        Ok(out)
    }

    /// Untag (and delete, when it was the last tag) an image; `Ok(false)` when a container
    /// still uses it (Docker refuses, and wheelbuild does not force).
    pub async fn remove_image(&self, reference: &str) -> Result<bool, DockerError> {
        let result = self
            .docker()
            .await?
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        removal(result.map(drop), "remove image")
    }

    /// The volumes carrying label `label`, by name.
    pub async fn labelled_volumes(&self, label: &str) -> Result<Vec<VolumeInfo>, DockerError> {
        let filters = std::collections::HashMap::from([("label", vec![label])]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker()
            .await?
            .list_volumes(Some(options))
            .await
            .map_err(|e| DockerError::Api {
                call: "list volumes",
                detail: e.to_string(),
            })?;
        let mut out: Vec<VolumeInfo> = list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove a volume; `Ok(false)` when a container still uses it (Docker refuses, and
    /// wheelbuild does not force). One already gone is removed.
    pub async fn remove_volume(&self, name: &str) -> Result<bool, DockerError> {
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        let result = self
            .docker()
            .await?
            .remove_volume(name, Some(options))
            .await;
        removal(result, "remove volume")
    }
}

/// A volume listed by [`Engine::labelled_volumes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// An image listed by [`Engine::tagged_images`].
#[derive(Debug, Clone)]
pub struct TaggedImage {
    /// `repo:tag`.
    pub tag: String,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
}

/// The outcome of removing an image or a volume: `Ok(false)` when Docker refuses because
/// something still uses it (409; wheelbuild never forces), `Ok(true)` when it is gone
/// (removed, or already gone: 404).
fn removal(
    result: Result<(), bollard::errors::Error>,
    call: &'static str,
) -> Result<bool, DockerError> {
    match result {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(false),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(true),
        Err(e) => Err(DockerError::Api {
            call,
            detail: e.to_string(),
        }),
    }
}
