//! Elements the resolver adds to the job's `dns*` sets: an answered address (and port), with
//! the record's TTL as the element's timeout.

use std::net::IpAddr;

use nftables::batch::Batch;
use nftables::expr::{Elem, Expression, NamedExpression};
use nftables::schema::{Element, NfListObject, Nftables};
use nftables::types::NfFamily;

use super::expr::{concat, s};
use super::{SetId, JOB_TABLE};

/// An address the resolver learned for an allowlisted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Learned {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

impl Learned {
    pub fn set(self) -> SetId {
        SetId::new(self.addr.is_ipv6(), true, self.port.is_some())
    }

    fn element(self, timeout: Option<u32>) -> Expression<'static> {
        let addr = s(self.addr.to_string());
        let val = match self.port {
            Some(port) => concat(vec![addr, Expression::Number(u32::from(port))]),
            None => addr,
        };
        Expression::Named(NamedExpression::Elem(Elem {
            val: Box::new(val),
            timeout,
            expires: None,
            comment: None,
            counter: None,
        }))
    }

    fn set_element(self, timeout: Option<u32>) -> NfListObject<'static> {
        NfListObject::Element(Element {
            family: NfFamily::INet,
            table: JOB_TABLE.into(),
            name: self.set().name().into(),
            elem: vec![self.element(timeout)].into(),
        })
    }
}

/// Adds learned addresses with their timeouts (seconds). Those in `refresh` are deleted first
/// (an `add` leaves an existing element's timeout unchanged), so each must be in its set.
pub(crate) fn add_learned(items: &[(Learned, u32)], refresh: &[Learned]) -> Nftables<'static> {
    let mut batch = Batch::new();
    for item in refresh {
        batch.delete(item.set_element(None));
    }
    for (item, timeout) in items {
        batch.add(item.set_element(Some(*timeout)));
    }
    batch.to_nftables()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_addresses_carry_their_timeout_and_refreshes_delete_first() {
        let learned = Learned {
            addr: "192.0.2.30".parse().unwrap(),
            port: Some(443),
        };
        let text = serde_json::to_string(&add_learned(&[(learned, 60)], &[learned])).unwrap();
        let delete = text.find(r#""delete""#).unwrap();
        let add = text.find(r#""add""#).unwrap();
        assert!(delete < add, "{text}");
        assert!(text.contains(r#""name":"dns4_port""#), "{text}");
        assert!(text.contains(r#""timeout":60"#), "{text}");
    }
}
