//! The Debian packages installed in a root file system, read from its dpkg status file, for
//! the manifest.

use crate::deb822;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

/// The packages whose status is `install ok installed`, sorted by name and architecture.
pub fn installed(status: &str) -> Vec<DebPackage> {
    let mut packages: Vec<DebPackage> = deb822::parse(status)
        .iter()
        .filter(|p| p.get("Status") == Some("install ok installed"))
        .filter_map(|p| {
            Some(DebPackage {
                name: p.get("Package")?.to_owned(),
                version: p.get("Version")?.to_owned(),
                architecture: p.get("Architecture").unwrap_or_default().to_owned(),
            })
        })
        .collect();
    packages.sort();
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_installed_packages_sorted_by_name() {
        let status = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n\
            Version: 1:1.2.13.dfsg-1\n\n\
            Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
            Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\
            Description: GNU Bourne Again SHell\n more text\n";
        let packages = installed(status);
        let names: Vec<(&str, &str)> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            names,
            [("bash", "5.2.15-2+b7"), ("zlib1g", "1:1.2.13.dfsg-1")]
        );
    }
}
