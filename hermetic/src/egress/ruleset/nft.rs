//! Running `nft -j` inside a namespace: applying a ruleset, listing tables.

use nftables::schema::Nftables;

use crate::egress::command::NFT;
use crate::egress::error::EgressError;
use crate::egress::netns::Netns;

/// Applies `ruleset` with `nft -j -f -` inside `netns`.
pub(crate) fn apply(ruleset: &Nftables<'_>, netns: &Netns) -> Result<(), EgressError> {
    let json = serde_json::to_vec(ruleset).map_err(|err| EgressError::Encode(err.to_string()))?;
    NFT.run(&["-j", "-f", "-"], Some(&json), Some(netns))
        .map(drop)
}

/// The names of the `inet` tables in `netns`.
pub(crate) fn list_inet_tables(netns: &Netns) -> Result<Vec<String>, EgressError> {
    let text = NFT.run(&["-j", "list", "tables", "inet"], None, Some(netns))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| EgressError::Encode(err.to_string()))?;
    Ok(value
        .get("nftables")
        .and_then(|items| items.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.get("table")?.get("name")?.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}
