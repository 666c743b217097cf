//! Asking the upstream resolvers, from the thread's namespace (the uplink's).
//!
//! Each question goes out in a fresh message (random id, recursion desired, the one question
//! and nothing else) from a fresh socket on a random port, to each upstream in turn until one
//! answers; an answer is accepted only if it carries the same id and question. A truncated UDP
//! answer is asked again over TCP.
//!
//! Must never: wait on a resolver without a deadline, or accept an answer to another question.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query};

/// How long one upstream gets to answer.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_UDP_ANSWER: usize = 4096;

/// Asks `servers` in turn for `question`, giving each `timeout`; the first matching answer,
/// or why none came.
pub(crate) fn ask(
    servers: &[SocketAddr],
    question: &Query,
    timeout: Duration,
) -> Result<Message, String> {
    let mut problems = Vec::new();
    for server in servers {
        match ask_one(*server, question, timeout) {
            Ok(answer) => return Ok(answer),
            Err(problem) => problems.push(format!("{server}: {problem}")),
        }
    }
    if problems.is_empty() {
        problems.push("no upstream resolver configured".to_string());
    }
    Err(problems.join("; "))
}

fn request_for(question: &Query) -> Message {
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(question.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    request.set_edns(edns);
    request
}

fn is_answer_to(answer: &Message, request: &Message) -> bool {
    answer.metadata.message_type == MessageType::Response
        && answer.metadata.id == request.metadata.id
        && answer.queries == request.queries
}

fn ask_one(server: SocketAddr, question: &Query, timeout: Duration) -> Result<Message, String> {
    let request = request_for(question);
    let bytes = request.to_vec().map_err(|err| err.to_string())?;
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(|err| err.to_string())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|err| err.to_string())?;
    socket.connect(server).map_err(|err| err.to_string())?;
    socket.send(&bytes).map_err(|err| err.to_string())?;
    let mut buffer = vec![0; MAX_UDP_ANSWER];
    // Datagrams that are not the answer (late answers to an earlier question) are skipped
    // until the deadline, which each read restarts; a few are tolerated, not an endless stream.
    for _ in 0..8 {
        let size = socket.recv(&mut buffer).map_err(|err| match err.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "no answer in time".to_string()
            }
            _ => err.to_string(),
        })?;
        let Ok(answer) = Message::from_vec(buffer.get(..size).unwrap_or_default()) else {
            continue;
        };
        if !is_answer_to(&answer, &request) {
            continue;
        }
        if answer.metadata.truncation {
            return ask_over_tcp(server, question, timeout);
        }
        return Ok(answer);
    }
    Err("no matching answer".to_string())
}

fn ask_over_tcp(
    server: SocketAddr,
    question: &Query,
    timeout: Duration,
) -> Result<Message, String> {
    let request = request_for(question);
    let bytes = request.to_vec().map_err(|err| err.to_string())?;
    let length = u16::try_from(bytes.len()).map_err(|_| "query too long".to_string())?;
    let mut stream = TcpStream::connect_timeout(&server, timeout).map_err(|err| err.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|err| err.to_string())?;
    stream
        .write_all(&length.to_be_bytes())
        .and_then(|()| stream.write_all(&bytes))
        .map_err(|err| err.to_string())?;
    let answer = read_tcp_message(&mut stream).map_err(|err| err.to_string())?;
    let answer = Message::from_vec(&answer).map_err(|err| err.to_string())?;
    if is_answer_to(&answer, &request) {
        Ok(answer)
    } else {
        Err("answer over TCP does not match the question".to_string())
    }
}

/// Reads one length-prefixed DNS message from a TCP stream.
pub(crate) fn read_tcp_message(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length)?;
    let mut message = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{Name, RecordType};

    fn question() -> Query {
        Query::query(
            Name::from_ascii("www.allowed.test.").unwrap(),
            RecordType::A,
        )
    }

    #[test]
    fn takes_the_first_server_that_answers_the_same_question() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let servers = [silent.local_addr().unwrap(), server.local_addr().unwrap()];
        let answering = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (size, from) = server.recv_from(&mut buffer).unwrap();
            let request = Message::from_vec(&buffer[..size]).unwrap();
            // An answer to another question first: it must be skipped.
            let mut wrong = Message::response(
                request.metadata.id.wrapping_add(1),
                request.metadata.op_code,
            );
            wrong.add_queries(request.queries.iter().cloned());
            server.send_to(&wrong.to_vec().unwrap(), from).unwrap();
            let mut right = Message::response(request.metadata.id, request.metadata.op_code);
            right.metadata.response_code = ResponseCode::NXDomain;
            right.add_queries(request.queries.iter().cloned());
            server.send_to(&right.to_vec().unwrap(), from).unwrap();
        });
        let answer = ask(&servers, &question(), Duration::from_millis(200)).unwrap();
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
        answering.join().unwrap();
    }

    #[test]
    fn says_why_when_no_server_answers() {
        assert_eq!(
            ask(&[], &question(), UPSTREAM_TIMEOUT).unwrap_err(),
            "no upstream resolver configured"
        );
    }
}
