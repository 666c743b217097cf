//! The microVM side of a run: which guest image boots, how big each VM is, and the egress policy
//! and job network each VM gets.
//!
//! The run looks the image up once (`$HRUN_IMAGES/current`, else `$HRUN_CACHE/images/current`,
//! built by `hrun image build`)
//! and maps it to hermetic's [`VmImage`]; the sizes come from the runner's configuration file.
//! Each job then gets a [`MicroVmSetup`]: when its egress allowlist (the runner's, narrowed by
//! the repository's `.github/hrun-egress.toml`) is not empty, a [`JobNetwork`] is made for it and
//! the VM gets a network card attached there; otherwise the VM has no network card at all.
//!
//! Must never: give a VM a network card when its allowlist is empty, or widen the runner's
//! allowlist from the repository.

use std::path::Path;
use std::time::Duration;

use actions_compat::workflow::{OrExpr, Templated};
use hermetic::egress::{EgressPolicy, GuestLink, JobNetwork, NetworkConfig, Uplink};
use hermetic::vm::{MicroVmSetup, VmConfig, VmImage, VmNetwork};
use hermetic::ExecError;

use super::execute::DEFAULT_JOB_TIMEOUT_MINUTES;

use crate::config::{job_egress, RunnerConfig};

/// What every job's VM of a run is made from.
#[derive(Debug, Clone)]
pub struct VmPlan {
    pub image: VmImage,
    pub config: VmConfig,
    /// The egress policy of the run's workflow (already narrowed by the repository).
    pub egress: EgressPolicy,
    /// Where job traffic leaves and which resolvers hrun's DNS resolver asks.
    pub network: NetworkConfig,
}

/// The current guest image of the image store (`$HRUN_IMAGES`, else `<cache>/images`), or why
/// there is none.
pub fn current_image(cache: &Path) -> Result<VmImage, String> {
    match image_store(cache).current() {
        Ok(Some(dir)) if dir.is_complete() => Ok(vm_image(&dir)),
        Ok(Some(dir)) => Err(format!(
            "the current guest image {} is incomplete (rebuild it with `hrun image build --force`)",
            dir.digest
        )),
        Ok(None) => Err("no guest image (build one with `hrun image build`)".to_owned()),
        Err(e) => Err(format!("cannot read the guest image store: {e}")),
    }
}

/// The guest image of that digest in the image store (a rebuild boots the original's).
pub fn image_by_digest(cache: &Path, digest: &str) -> Result<VmImage, String> {
    let dir = image_store(cache)
        .find(digest)
        .map_err(|e| format!("the guest image {digest} is not in the image store: {e}"))?;
    if dir.digest.to_string() != digest {
        return Err(format!(
            "`{digest}` is not the whole digest of a guest image in the store"
        ));
    }
    if !dir.is_complete() {
        return Err(format!("the guest image {digest} is incomplete"));
    }
    Ok(vm_image(&dir))
}

fn image_store(cache: &Path) -> images::ImageStore {
    match std::env::var_os("HRUN_IMAGES").filter(|v| !v.is_empty()) {
        Some(dir) => images::ImageStore::new(dir),
        None => images::ImageStore::in_cache(cache),
    }
}

fn vm_image(dir: &images::ImageDir) -> VmImage {
    VmImage {
        kernel: dir.kernel(),
        initrd: dir.initrd(),
        rootfs: dir.rootfs(),
        digest: dir.digest.to_string(),
        kernel_release: dir.kernel_release().to_owned(),
    }
}

/// The VM plan of a run of `workflow_file` in `repo_root` booting the image `image_digest`
/// (default: the store's current one), or why the microVM cannot be used.
pub fn plan_vm(
    runner: &RunnerConfig,
    repo_root: &Path,
    workflow_file: &str,
    image_digest: Option<&str>,
) -> Result<VmPlan, String> {
    let mut config = VmConfig::from_env()?;
    let image = match image_digest {
        Some(digest) => image_by_digest(&config.cache_dir, digest)?,
        None => current_image(&config.cache_dir)?,
    };
    config.vcpus = runner.vm.vcpus;
    config.memory_mib = u32::try_from(runner.vm.memory_mib).unwrap_or(u32::MAX);
    config.disk_bytes = runner.vm.disk_mib.saturating_mul(1 << 20);
    let file_name = Path::new(workflow_file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| workflow_file.to_owned());
    let egress = job_egress(&runner.egress, repo_root, &file_name).map_err(|e| e.to_string())?;
    let uplink = match &runner.uplink_netns {
        Some(name) => Uplink::Netns(name.clone()),
        None => Uplink::Host,
    };
    let mut network = NetworkConfig::new(egress.clone(), uplink);
    if let Some(servers) = &runner.upstream_dns {
        network.upstream_dns = servers.clone();
    }
    Ok(VmPlan {
        image,
        config,
        egress,
        network,
    })
}

/// GitHub's `cancel-timeout-minutes` when a job does not set it: how long a cancelled (or
/// timed-out) job has to end before its runner is killed.
pub const DEFAULT_CANCEL_TIMEOUT_MINUTES: f64 = 5.0;

/// How long after its launch a job's VM is killed, whatever runs in it: the job's
/// `timeout-minutes` plus its `cancel-timeout-minutes` (GitHub's defaults when absent), so the
/// steps that run once the job has timed out (`if: cancelled()`, `always()`) get the same time
/// as on GitHub, and the VM's kill is the backstop of a job that does not end. `None` (no VM
/// deadline) when either is an expression, known only once the job runs, or when
/// `timeout-minutes` is not a positive number (no job timeout); the engine's timer and each
/// step's host backstop still apply.
pub fn vm_timeout(
    timeout_minutes: Option<&Templated<f64>>,
    cancel_timeout_minutes: Option<&Templated<f64>>,
) -> Option<Duration> {
    let minutes = |t: Option<&Templated<f64>>, default: f64| match t.map(|t| &t.value) {
        None => Some(default),
        Some(OrExpr::Literal { value }) => Some(*value),
        Some(OrExpr::Expression(_)) => None,
    };
    let job = minutes(timeout_minutes, DEFAULT_JOB_TIMEOUT_MINUTES)?;
    if !(job.is_finite() && job > 0.0) {
        return None;
    }
    let cancel = minutes(cancel_timeout_minutes, DEFAULT_CANCEL_TIMEOUT_MINUTES)?;
    let cancel = if cancel.is_finite() && cancel > 0.0 {
        cancel
    } else {
        0.0
    };
    Duration::try_from_secs_f64(((job + cancel) * 60.0).min(1e9)).ok()
}

/// The VM of one job: `timeout` is the job's own limit (the VM is killed at it).
pub async fn job_setup(
    plan: &VmPlan,
    timeout: Option<Duration>,
) -> Result<MicroVmSetup, ExecError> {
    let mut config = plan.config.clone();
    config.timeout = timeout;
    let mut setup = MicroVmSetup::new(plan.image.clone(), config);
    if plan.egress.needs_network() {
        let network = plan.network.clone();
        let job = tokio::task::spawn_blocking(move || JobNetwork::create(&network, GuestLink::Tap))
            .await
            .map_err(|e| ExecError::InvalidConfig(format!("the job network task failed: {e}")))?
            .map_err(|e| ExecError::InvalidConfig(format!("cannot make the job's network: {e}")))?;
        setup.network = Some(VmNetwork::from_job(job)?);
    }
    Ok(setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(minutes: f64) -> Templated<f64> {
        Templated {
            line: 1,
            col: 1,
            value: OrExpr::Literal { value: minutes },
        }
    }

    #[test]
    fn vm_deadline_is_the_job_timeout_plus_the_cancel_timeout() {
        assert_eq!(
            vm_timeout(Some(&literal(0.5)), Some(&literal(0.25))),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            vm_timeout(Some(&literal(1.0)), None),
            Some(Duration::from_secs(60 + 5 * 60)),
            "GitHub's default cancel timeout of 5 minutes"
        );
        assert_eq!(
            vm_timeout(None, None),
            Some(Duration::from_secs((360 + 5) * 60)),
            "GitHub's default job timeout of 360 minutes"
        );
        assert_eq!(
            vm_timeout(Some(&literal(1.0)), Some(&literal(-1.0))),
            Some(Duration::from_secs(60)),
            "a cancel timeout that is not positive adds nothing"
        );
    }

    #[test]
    fn no_vm_deadline_without_a_positive_literal_timeout() {
        assert_eq!(vm_timeout(Some(&literal(0.0)), None), None);
        assert_eq!(vm_timeout(Some(&literal(-3.0)), None), None);
        assert_eq!(vm_timeout(Some(&literal(f64::NAN)), None), None);
        let wf = actions_compat::workflow::parse(
            "on: push\njobs:\n  a:\n    runs-on: x\n    timeout-minutes: ${{ fromJSON(vars.T) }}\n    cancel-timeout-minutes: ${{ fromJSON(vars.C) }}\n    steps: [{run: 'true'}]\n",
            "ci.yml",
        )
        .expect("parses");
        let Some(actions_compat::workflow::JobKind::Runner(job)) = wf.jobs.first().map(|j| &j.kind)
        else {
            panic!("a runner job");
        };
        assert!(matches!(
            job.timeout_minutes.as_ref().map(|t| &t.value),
            Some(OrExpr::Expression(_))
        ));
        assert_eq!(vm_timeout(job.timeout_minutes.as_ref(), None), None);
        assert_eq!(
            vm_timeout(Some(&literal(1.0)), job.cancel_timeout_minutes.as_ref()),
            None
        );
    }
}
