//! Which kernel modules the initramfs carries and in which order the guest agent loads them,
//! resolved from the kernel's `modules.dep` (as `depmod` writes it) and `modules.builtin`.
//!
//! A module is named as `modprobe` names it: the file name without `.ko` (and a compression
//! suffix), with `-` and `_` equal. The load order puts every module after all of its
//! dependencies, following the order the modules were asked for; a module built into the
//! kernel needs no file and is left out. The resolution is iterative, so a hostile
//! `modules.dep` (a cycle, a deep chain) yields an error, never a stack overflow or a hang.

use std::collections::{BTreeMap, BTreeSet};

/// Why a module set could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModulesError {
    #[error("modules.dep line {line}: `{text}` is not `path.ko: dependency.ko ...`")]
    Malformed { line: usize, text: String },
    #[error("the kernel has no module `{name}` (neither in modules.dep nor built in)")]
    Unknown { name: String },
    #[error("modules.dep names `{path}` as a dependency but has no line for it")]
    MissingDependency { path: String },
    #[error("modules.dep has a dependency cycle through `{path}`")]
    Cycle { path: String },
}

/// The name `modprobe` gives the module at `path`: `kernel/drivers/char/hw_random/virtio-rng.ko`
/// is `virtio_rng`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))
        .unwrap_or(file);
    stem.replace('-', "_")
}

/// A parsed `modules.dep`: each module's path (relative to `/lib/modules/<release>`) and the
/// paths it depends on.
#[derive(Debug, Default, Clone)]
pub struct ModuleIndex {
    deps: BTreeMap<String, Vec<String>>,
    by_name: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Reads `modules.dep` and `modules.builtin` (one path per line).
    pub fn parse(modules_dep: &str, modules_builtin: &str) -> Result<ModuleIndex, ModulesError> {
        let mut index = ModuleIndex::default();
        for (n, line) in modules_dep.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                return Err(ModulesError::Malformed {
                    line: n + 1,
                    text: line.chars().take(200).collect(),
                });
            };
            let path = path.trim();
            if path.is_empty() || path.contains(char::is_whitespace) {
                return Err(ModulesError::Malformed {
                    line: n + 1,
                    text: line.chars().take(200).collect(),
                });
            }
            index
                .by_name
                .entry(module_name(path))
                .or_insert_with(|| path.to_owned());
            index.deps.insert(
                path.to_owned(),
                deps.split_whitespace().map(str::to_owned).collect(),
            );
        }
        index.builtin = modules_builtin
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(module_name)
            .collect();
        Ok(index)
    }

    /// Whether `name` is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&name.replace('-', "_"))
    }

    /// The paths of `wanted` and all they depend on, each after its dependencies, each once.
    /// Built-in modules are skipped.
    pub fn load_order(&self, wanted: &[String]) -> Result<Vec<String>, ModulesError> {
        let mut order = Vec::new();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        for name in wanted {
            let name = name.replace('-', "_");
            if self.builtin.contains(&name) {
                continue;
            }
            let root = self
                .by_name
                .get(&name)
                .ok_or(ModulesError::Unknown { name: name.clone() })?;
            self.visit(root, &mut done, &mut order)?;
        }
        Ok(order)
    }

    /// Depth-first, post-order from `root`, with an explicit stack: (path, next dependency).
    fn visit<'a>(
        &'a self,
        root: &'a str,
        done: &mut BTreeSet<&'a str>,
        order: &mut Vec<String>,
    ) -> Result<(), ModulesError> {
        if done.contains(root) {
            return Ok(());
        }
        let mut on_stack: BTreeSet<&str> = BTreeSet::from([root]);
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some((path, next)) = stack.pop() {
            let deps = self
                .deps
                .get(path)
                .ok_or_else(|| ModulesError::MissingDependency {
                    path: path.to_owned(),
                })?;
            match deps.get(next) {
                Some(dep) => {
                    stack.push((path, next + 1));
                    let dep = dep.as_str();
                    if done.contains(dep) {
                        continue;
                    }
                    if !on_stack.insert(dep) {
                        return Err(ModulesError::Cycle {
                            path: dep.to_owned(),
                        });
                    }
                    stack.push((dep, 0));
                }
                None => {
                    on_stack.remove(path);
                    done.insert(path);
                    order.push(path.to_owned());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A made-up modules.dep in depmod's shape: each line lists every module the first one needs.
    const DEP: &str = "\
kernel/fs/overlayfs/overlay.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
";

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn position(order: &[String], path: &str) -> usize {
        order.iter().position(|p| p == path).unwrap()
    }

    #[test]
    fn names_modules_as_modprobe_does() {
        assert_eq!(
            module_name("kernel/drivers/char/hw_random/virtio-rng.ko"),
            "virtio_rng"
        );
        assert_eq!(module_name("kernel/fs/overlayfs/overlay.ko.zst"), "overlay");
        assert_eq!(module_name("virtio.ko"), "virtio");
    }

    #[test]
    fn orders_every_module_after_its_dependencies_each_once() {
        let index = ModuleIndex::parse(DEP, "").unwrap();
        let order = index
            .load_order(&names(&[
                "virtio_net",
                "virtio_mmio",
                "virtio-rng",
                "overlay",
            ]))
            .unwrap();
        assert_eq!(
            order,
            [
                "kernel/net/core/failover.ko",
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/drivers/virtio/virtio_mmio.ko",
                "kernel/drivers/char/hw_random/virtio-rng.ko.xz",
                "kernel/fs/overlayfs/overlay.ko",
            ]
        );
        for (module, dep) in [
            (
                "kernel/drivers/net/virtio_net.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
            ),
            (
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio.ko",
            ),
        ] {
            assert!(position(&order, dep) < position(&order, module));
        }
    }

    #[test]
    fn leaves_out_builtin_modules() {
        let index = ModuleIndex::parse(DEP, "kernel/fs/overlayfs/overlay.ko\n").unwrap();
        assert!(index.is_builtin("overlay"));
        assert_eq!(
            index.load_order(&names(&["overlay"])).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rejects_an_unknown_module_by_name() {
        let index = ModuleIndex::parse(DEP, "").unwrap();
        assert_eq!(
            index.load_order(&names(&["vsock"])),
            Err(ModulesError::Unknown {
                name: "vsock".into()
            })
        );
    }

    #[test]
    fn rejects_a_cycle_and_a_dangling_dependency() {
        let cyclic = "a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\n";
        let index = ModuleIndex::parse(cyclic, "").unwrap();
        assert!(matches!(
            index.load_order(&names(&["a"])),
            Err(ModulesError::Cycle { .. })
        ));
        let dangling = ModuleIndex::parse("a.ko: gone.ko\n", "").unwrap();
        assert_eq!(
            dangling.load_order(&names(&["a"])),
            Err(ModulesError::MissingDependency {
                path: "gone.ko".into()
            })
        );
    }

    #[test]
    fn rejects_a_line_without_a_colon_with_its_number() {
        assert_eq!(
            ModuleIndex::parse("a.ko:\nb.ko c.ko\n", "").unwrap_err(),
            ModulesError::Malformed {
                line: 2,
                text: "b.ko c.ko".into()
            }
        );
    }

    #[test]
    fn resolves_a_long_chain_without_recursion() {
        let mut dep = String::new();
        for i in 0..50_000 {
            dep.push_str(&format!("m{i}.ko: m{}.ko\n", i + 1));
        }
        dep.push_str("m50000.ko:\n");
        let index = ModuleIndex::parse(&dep, "").unwrap();
        let order = index.load_order(&names(&["m0"])).unwrap();
        assert_eq!(order.len(), 50_001);
        assert_eq!(order.first().map(String::as_str), Some("m50000.ko"));
    }
}
