//! What hrun's resolver does with one query: answer it at once, or ask upstream; and the answer
//! it then builds. Pure functions over `hickory-proto` messages, so they are tested without a
//! network.
//!
//! - A or AAAA for an allowlisted name: asked upstream; the guest gets the upstream's rcode and
//!   its CNAME/A/AAAA answers (nothing else: no authority or additional data).
//! - Another type for an allowlisted name: NOERROR with no records (only addresses are served).
//! - Any name not allowlisted: NXDOMAIN, never forwarded, so nothing the guest encodes in a
//!   name leaves the machine (in audit mode it is forwarded and recorded as audited).
//! - Not a standard query, several questions, a class other than IN: NOTIMP, FORMERR, REFUSED.
//!
//! Must never: forward a query for a name outside the allowlist while blocking, or pass the
//! guest's own records (EDNS options, additional data) upstream.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};

use crate::egress::allowlist::{normalize_name, AllowEntry};
use crate::egress::policy::EgressPolicy;
use crate::egress::report::Verdict;

/// The largest UDP answer hrun sends when the query's EDNS allows it (the DNS flag day value).
const MAX_UDP_PAYLOAD: u16 = 1232;
/// The largest UDP answer to a query without EDNS.
const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// What to do with a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Answer now.
    Reply {
        response: Box<Message>,
        name: Option<String>,
        query_type: Option<String>,
        verdict: Verdict,
        reason: String,
    },
    /// Ask the upstream resolvers, then answer with [`answer_from_upstream`].
    Forward {
        query: Query,
        name: String,
        query_type: String,
        /// The ports of the allowlist entries matching the name (`None`: every port); empty when
        /// the name is not allowlisted and audit mode forwards it anyway.
        ports: Vec<Option<u16>>,
    },
    /// Not a query (a response, say): no answer.
    Ignore,
}

/// Decides what to do with `request` under `policy`.
pub(crate) fn decide(request: &Message, policy: &EgressPolicy) -> Decision {
    if request.metadata.message_type != MessageType::Query {
        return Decision::Ignore;
    }
    let reply = |rcode, name: Option<String>, query_type, verdict, reason: &str| Decision::Reply {
        response: Box::new(response_to(request, rcode)),
        name,
        query_type,
        verdict,
        reason: reason.to_string(),
    };
    if request.metadata.op_code != OpCode::Query {
        return reply(
            ResponseCode::NotImp,
            None,
            None,
            Verdict::Denied,
            "not a standard query: answered NOTIMP",
        );
    }
    let [question] = request.queries.as_slice() else {
        return reply(
            ResponseCode::FormErr,
            None,
            None,
            Verdict::Denied,
            "not exactly one question: answered FORMERR",
        );
    };
    let name = normalize_name(&question.name().to_ascii());
    let query_type = question.query_type().to_string();
    if question.query_class() != DNSClass::IN {
        return reply(
            ResponseCode::Refused,
            Some(name),
            Some(query_type),
            Verdict::Denied,
            "class other than IN: answered REFUSED",
        );
    }
    let ports: Vec<Option<u16>> = policy
        .allow
        .iter()
        .filter_map(|entry| match entry {
            AllowEntry::Name { pattern, port } => pattern.matches(&name).then_some(*port),
            AllowEntry::Network { .. } => None,
        })
        .collect();
    let is_address = matches!(question.query_type(), RecordType::A | RecordType::AAAA);
    match (ports.is_empty(), policy.mode.blocks(), is_address) {
        (true, true, _) => reply(
            ResponseCode::NXDomain,
            Some(name),
            Some(query_type),
            Verdict::Denied,
            "name not in the allowlist: answered NXDOMAIN without asking upstream",
        ),
        (true, false, false) => reply(
            ResponseCode::NoError,
            Some(name),
            Some(query_type),
            Verdict::Audited,
            "name not in the allowlist (audit mode); only A and AAAA are served: answered \
             with no records",
        ),
        (false, _, false) => reply(
            ResponseCode::NoError,
            Some(name),
            Some(query_type),
            Verdict::Allowed,
            "only A and AAAA are served: answered with no records",
        ),
        (_, _, true) => Decision::Forward {
            query: Query::query(question.name().clone(), question.query_type()),
            name,
            query_type,
            ports,
        },
    }
}

/// An empty response to `request` with `rcode`, echoing its question.
pub(crate) fn response_to(request: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.response_code = rcode;
    response.add_queries(request.queries.iter().cloned());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        response.set_edns(edns);
    }
    response
}

/// The answer to `request` from the upstream's `upstream` answer: its rcode and its address
/// and alias records.
pub(crate) fn answer_from_upstream(request: &Message, upstream: &Message) -> Message {
    let mut response = response_to(request, upstream.metadata.response_code);
    response.add_answers(
        upstream
            .answers
            .iter()
            .filter(|record| {
                matches!(
                    record.record_type(),
                    RecordType::A | RecordType::AAAA | RecordType::CNAME
                )
            })
            .cloned(),
    );
    response
}

/// The addresses in an upstream answer, each with its TTL.
pub(crate) fn answered_addresses(upstream: &Message) -> Vec<(IpAddr, u32)> {
    upstream
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some((IpAddr::V4(a.0), record.ttl)),
            RData::AAAA(aaaa) => Some((IpAddr::V6(aaaa.0), record.ttl)),
            _ => None,
        })
        .collect()
}

/// The bytes of `response` for a UDP reply to `request`: truncated (TC set, no records) when
/// it would exceed what the guest can take, so that it asks again over TCP.
pub(crate) fn encode_for_udp(request: &Message, response: &Message) -> Option<Vec<u8>> {
    let limit = request
        .edns
        .as_ref()
        .map(|edns| {
            edns.max_payload()
                .clamp(CLASSIC_UDP_PAYLOAD, MAX_UDP_PAYLOAD)
        })
        .unwrap_or(CLASSIC_UDP_PAYLOAD);
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= usize::from(limit) {
        Some(bytes)
    } else {
        response.truncate().to_vec().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::policy::EgressMode;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};
    use hickory_proto::rr::{Name, Record};

    fn query(name: &str, record_type: RecordType) -> Message {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
        message
    }

    fn policy(mode: EgressMode) -> EgressPolicy {
        EgressPolicy::parse(mode, ["*.allowed.test:443", "exact.test", "10.0.0.0/8"]).unwrap()
    }

    #[test]
    fn forwards_address_queries_for_allowlisted_names_with_their_ports() {
        let decision = decide(
            &query("WWW.allowed.test.", RecordType::AAAA),
            &policy(EgressMode::Block),
        );
        let Decision::Forward {
            name,
            query_type,
            ports,
            query,
        } = decision
        else {
            panic!("not forwarded: {decision:?}");
        };
        assert_eq!(name, "www.allowed.test");
        assert_eq!(query_type, "AAAA");
        assert_eq!(ports, [Some(443)]);
        assert_eq!(query.query_type(), RecordType::AAAA);
    }

    #[test]
    fn answers_nxdomain_for_other_names_without_forwarding() {
        let request = query("secret-data.evil.test.", RecordType::A);
        let Decision::Reply {
            response,
            verdict,
            reason,
            name,
            ..
        } = decide(&request, &policy(EgressMode::BlockAndFail))
        else {
            panic!("forwarded");
        };
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(response.metadata.id, request.metadata.id);
        assert_eq!(response.queries, request.queries);
        assert_eq!(verdict, Verdict::Denied);
        assert_eq!(name.as_deref(), Some("secret-data.evil.test"));
        assert!(reason.contains("NXDOMAIN"));
    }

    #[test]
    fn the_apex_of_a_wildcard_is_not_allowlisted() {
        let decision = decide(
            &query("allowed.test.", RecordType::A),
            &policy(EgressMode::Block),
        );
        assert!(matches!(
            decision,
            Decision::Reply {
                verdict: Verdict::Denied,
                ..
            }
        ));
    }

    #[test]
    fn audit_mode_forwards_other_names_as_audited() {
        let decision = decide(
            &query("other.test.", RecordType::A),
            &policy(EgressMode::Audit),
        );
        assert!(
            matches!(&decision, Decision::Forward { ports, .. } if ports.is_empty()),
            "{decision:?}"
        );
    }

    #[test]
    fn other_types_get_no_records_and_are_never_forwarded() {
        for mode in [EgressMode::Audit, EgressMode::Block] {
            let Decision::Reply { response, .. } =
                decide(&query("exact.test.", RecordType::TXT), &policy(mode))
            else {
                panic!("forwarded a TXT query");
            };
            assert_eq!(response.metadata.response_code, ResponseCode::NoError);
            assert!(response.answers.is_empty());
        }
    }

    #[test]
    fn refuses_odd_requests() {
        let mut two = query("exact.test.", RecordType::A);
        two.add_query(Query::query(
            Name::from_ascii("exact.test.").unwrap(),
            RecordType::AAAA,
        ));
        let mut update = query("exact.test.", RecordType::A);
        update.metadata.op_code = OpCode::Update;
        let mut chaos = query("exact.test.", RecordType::A);
        chaos.queries[0].set_query_class(DNSClass::CH);
        for (request, rcode) in [
            (two, ResponseCode::FormErr),
            (update, ResponseCode::NotImp),
            (chaos, ResponseCode::Refused),
        ] {
            let Decision::Reply { response, .. } = decide(&request, &policy(EgressMode::Block))
            else {
                panic!("forwarded");
            };
            assert_eq!(response.metadata.response_code, rcode);
        }
        let mut response = query("exact.test.", RecordType::A);
        response.metadata.message_type = MessageType::Response;
        assert_eq!(
            decide(&response, &policy(EgressMode::Block)),
            Decision::Ignore
        );
    }

    fn upstream_answer(request: &Message) -> Message {
        let name = Name::from_ascii("www.allowed.test.").unwrap();
        let target = Name::from_ascii("cdn.example.net.").unwrap();
        let mut upstream = response_to(request, ResponseCode::NoError);
        upstream.add_answer(Record::from_rdata(
            name,
            300,
            RData::CNAME(CNAME(target.clone())),
        ));
        upstream.add_answer(Record::from_rdata(
            target.clone(),
            60,
            RData::A(A::new(192, 0, 2, 30)),
        ));
        upstream.add_answer(Record::from_rdata(
            target.clone(),
            30,
            RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x30)),
        ));
        upstream.add_answer(Record::from_rdata(
            target.clone(),
            30,
            RData::TXT(TXT::new(vec!["x".into()])),
        ));
        upstream.add_additional(Record::from_rdata(
            target,
            30,
            RData::A(A::new(192, 0, 2, 99)),
        ));
        upstream
    }

    #[test]
    fn upstream_answers_keep_addresses_and_aliases_only() {
        let request = query("www.allowed.test.", RecordType::A);
        let upstream = upstream_answer(&request);
        let response = answer_from_upstream(&request, &upstream);
        assert_eq!(response.metadata.id, request.metadata.id);
        assert_eq!(response.answers.len(), 3);
        assert!(response.additionals.is_empty());
        assert_eq!(
            answered_addresses(&upstream),
            [
                ("192.0.2.30".parse().unwrap(), 60),
                ("2001:db8::30".parse().unwrap(), 30)
            ]
        );
    }

    #[test]
    fn large_udp_answers_are_truncated_for_a_retry_over_tcp() {
        let request = query("www.allowed.test.", RecordType::A);
        let mut response = response_to(&request, ResponseCode::NoError);
        let name = Name::from_ascii("www.allowed.test.").unwrap();
        for i in 0..60u8 {
            response.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::A(A::new(192, 0, 2, i)),
            ));
        }
        let bytes = encode_for_udp(&request, &response).unwrap();
        assert!(bytes.len() <= 512);
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.metadata.truncation);
        assert!(decoded.answers.is_empty());
        assert_eq!(decoded.metadata.id, request.metadata.id);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn on_any_message_from_the_guest(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(request) = Message::from_vec(&bytes) {
                    if let Decision::Reply { response, .. } = decide(&request, &policy(EgressMode::Block)) {
                        prop_assert!(encode_for_udp(&request, &response).is_some());
                    }
                }
            }
        }
    }
}
