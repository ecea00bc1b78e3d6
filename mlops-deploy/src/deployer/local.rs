//! The local deployer: drives a running [`ServerHandle`] (the in-process model server)
//! through its variants.
//!
//! The stable version is the server's `stable` variant, the canary its weighted
//! `canary` variant ([`CANARY`]). Every step is one routing change of the server, and a
//! routing change never fails or alters a request in flight (a request keeps the
//! routing snapshot it arrived with), so stepping weights, promoting and rolling back
//! under traffic fail no request:
//!
//! - `deploy_stable` / `deploy_canary` load the version's model through the registry
//!   (`models:/NAME/VERSION`: the package verified against its registered digest, then
//!   turned into a model by its flavor) and put it in place with no traffic for a canary;
//!   the model is loaded before the routing changes, so a slow load delays no request.
//! - `set_canary_weight(w)` sets the canary's share to `w` percent.
//! - `promote` makes the canary's model the `stable` one at 100% in one routing change.
//! - `rollback` sets the canary's weight to 0, then removes the variant.
//!
//! - `deploy_shadow` mirrors every request to the version (the server's `shadow`;
//!   answers discarded, counted per arm); `remove_shadow` stops it.
//! - `preview_url` serves the canary alone on a second server on 127.0.0.1 (a
//!   blue-green preview Service): golden requests reach it over HTTP while it takes no
//!   user traffic. It stops at promotion or rollback.
//!
//! Every method is idempotent: a version already in place is not loaded again, a
//! promotion or rollback already done is a no-op (the controller repeats its last step
//! after a crash).

use mlops_core::{ModelUri, Registry};
use mlops_train::FlavorRegistry;

use super::{DeployPhase, DeployStatus, Deployer, VersionSpec};
use crate::error::{Error, Result};
use crate::router::{SHADOW, STABLE};
use crate::served::ServedModel;
use crate::server::{ModelServer, ServerConfig, ServerHandle};

/// The variant name a canary is served under.
pub const CANARY: &str = "canary";

/// Turns a version into a servable model.
type Loader<'a> = Box<dyn FnMut(&VersionSpec) -> Result<ServedModel> + 'a>;

/// Drives a local model server's `stable` and `canary` variants.
pub struct LocalDeployer<'a> {
    server: &'a ServerHandle,
    load: Loader<'a>,
    known: Vec<VersionSpec>,
    phase: Option<DeployPhase>,
    canary_model: Option<ServedModel>,
    preview: Option<(VersionSpec, ServerHandle)>,
}

impl std::fmt::Debug for LocalDeployer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDeployer")
            .field("server", &self.server.addr())
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl<'a> LocalDeployer<'a> {
    /// A deployer loading versions from `registry` (`models:/MODEL/VERSION`, verified
    /// by [`Registry::load`]) with the default flavors.
    pub fn new(server: &'a ServerHandle, registry: &'a dyn Registry) -> Self {
        Self::with_flavors(server, registry, FlavorRegistry::new())
    }

    /// Like [`LocalDeployer::new`] with the application's flavor registry.
    pub fn with_flavors(
        server: &'a ServerHandle,
        registry: &'a dyn Registry,
        flavors: FlavorRegistry,
    ) -> Self {
        Self::with_loader(server, move |v: &VersionSpec| {
            let uri: ModelUri = format!("models:/{}/{}", v.model, v.version).parse()?;
            ServedModel::from_registry(registry, &uri, &flavors)
        })
    }

    /// A deployer with its own way of turning a version into a model (an application
    /// that builds or caches models itself).
    pub fn with_loader(
        server: &'a ServerHandle,
        load: impl FnMut(&VersionSpec) -> Result<ServedModel> + 'a,
    ) -> Self {
        Self {
            server,
            load: Box::new(load),
            known: Vec::new(),
            phase: None,
            canary_model: None,
            preview: None,
        }
    }

    /// The server it drives.
    pub fn server(&self) -> &ServerHandle {
        self.server
    }

    fn variant(&self, name: &str) -> Option<crate::router::VariantInfo> {
        self.server.variants().into_iter().find(|v| v.name == name)
    }

    fn load(&mut self, version: &VersionSpec) -> Result<ServedModel> {
        let model = (self.load)(version)?;
        if model.name() != version.model || model.version() != version.version {
            return Err(Error::config(
                "version",
                format!(
                    "loading {}/{} gave {}/{}",
                    version.model,
                    version.version,
                    model.name(),
                    model.version()
                ),
            ));
        }
        self.remember(version);
        Ok(model)
    }

    fn remember(&mut self, version: &VersionSpec) {
        if !self.known.contains(version) {
            self.known.push(version.clone());
        }
    }

    /// The spec of a served (model, version): the one deployed through this deployer
    /// when there is one, else one naming the registry URI.
    fn spec_of(&self, model: &str, version: &str) -> VersionSpec {
        self.known
            .iter()
            .find(|v| v.model == model && v.version == version)
            .cloned()
            .unwrap_or_else(|| VersionSpec {
                model: model.to_string(),
                version: version.to_string(),
                storage_uri: format!("models:/{model}/{version}"),
            })
    }
}

fn serves(info: &crate::router::VariantInfo, version: &VersionSpec) -> bool {
    info.model == version.model && info.version == version.version
}

impl Deployer for LocalDeployer<'_> {
    fn deploy_stable(&mut self, version: &VersionSpec) -> Result<()> {
        if self.variant(STABLE).is_some_and(|v| serves(&v, version)) {
            self.remember(version);
            return Ok(());
        }
        let model = self.load(version)?;
        self.server.swap(STABLE, model)?;
        self.phase = Some(DeployPhase::Stable);
        Ok(())
    }

    fn deploy_canary(&mut self, version: &VersionSpec) -> Result<()> {
        if self.variant(CANARY).is_some_and(|v| serves(&v, version)) {
            self.remember(version);
            return Ok(());
        }
        let model = self.load(version)?;
        self.server.set_variant(CANARY, model.clone(), 0.0)?;
        self.canary_model = Some(model);
        self.phase = Some(DeployPhase::Progressing);
        Ok(())
    }

    fn set_canary_weight(&mut self, weight: u8) -> Result<()> {
        if weight > 100 {
            return Err(Error::config("weight", format!("{weight}% > 100%")));
        }
        if self.variant(CANARY).is_none() {
            return Err(Error::NoSuchVariant(CANARY.into()));
        }
        self.server.set_weight(CANARY, f64::from(weight) / 100.0)?;
        self.phase = Some(DeployPhase::Progressing);
        Ok(())
    }

    fn promote(&mut self) -> Result<()> {
        self.preview = None;
        if self.variant(CANARY).is_some() {
            self.server.promote(CANARY)?;
        } else if self.phase != Some(DeployPhase::Promoted) && self.phase.is_some() {
            // This deployer brought a canary up and it is gone: someone else removed it.
            return Err(Error::NoSuchVariant(CANARY.into()));
        }
        // No canary and nothing known: promoted before a restart.
        self.phase = Some(DeployPhase::Promoted);
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.preview = None;
        if self.variant(CANARY).is_some() {
            // Weight 0 first, so the variant's removal moves no traffic of its own.
            self.server.set_weight(CANARY, 0.0)?;
            self.server.remove_variant(CANARY)?;
        }
        self.phase = Some(DeployPhase::RolledBack);
        Ok(())
    }

    fn preview_url(&mut self) -> Result<Option<String>> {
        let Some(info) = self.variant(CANARY) else {
            self.preview = None;
            return Ok(None);
        };
        let version = self.spec_of(&info.model, &info.version);
        if let Some((v, server)) = &self.preview
            && v.model == version.model
            && v.version == version.version
        {
            return Ok(Some(server.url()));
        }
        let model = match &self.canary_model {
            Some(m) if m.name() == version.model && m.version() == version.version => m.clone(),
            _ => self.load(&version)?,
        };
        let config = ServerConfig {
            workers: Some(1),
            ..ServerConfig::default()
        };
        let server = ModelServer::start(config, model)?;
        let url = server.url();
        tracing::info!(%url, version = %version.version, "preview serving the canary alone");
        self.preview = Some((version, server));
        Ok(Some(url))
    }

    fn deploy_shadow(&mut self, version: &VersionSpec, percent: u8) -> Result<()> {
        if percent != 100 {
            return Err(Error::config(
                "shadow.percent",
                format!("{percent}: the local server mirrors every request (100)"),
            ));
        }
        if self.variant(SHADOW).is_some_and(|v| serves(&v, version)) {
            self.remember(version);
            return Ok(());
        }
        let model = self.load(version)?;
        self.server.set_shadow(Some(model))
    }

    fn remove_shadow(&mut self) -> Result<()> {
        if self.variant(SHADOW).is_some() {
            self.server.set_shadow(None)?;
        }
        Ok(())
    }

    fn status(&self) -> Result<DeployStatus> {
        let variants = self.server.variants();
        let find = |name: &str| variants.iter().find(|v| v.name == name);
        let stable = find(STABLE).map(|v| self.spec_of(&v.model, &v.version));
        let canary = find(CANARY);
        let canary_weight =
            canary.map_or(0, |v| (v.weight * 100.0).round().clamp(0.0, 100.0) as u8);
        let phase = match (self.phase, canary) {
            (_, Some(_)) => DeployPhase::Progressing,
            (Some(p @ (DeployPhase::Promoted | DeployPhase::RolledBack)), None) => p,
            _ => DeployPhase::Stable,
        };
        Ok(DeployStatus {
            stable,
            canary: canary.map(|v| self.spec_of(&v.model, &v.version)),
            canary_weight: if phase == DeployPhase::Promoted {
                100
            } else {
                canary_weight
            },
            phase,
        })
    }
}
