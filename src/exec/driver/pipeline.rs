//! Requests sent ahead of being asked for (docs/driver-host.md, Pipelining).
//!
//! A round trip through a host's pipes costs more than many statements do, so a session
//! that knows what its case will ask next ([`Session::plan`](crate::exec::Session::plan))
//! sends those requests in a window and reads each answer when the case asks for it:
//! the host runs one request while helios-matrix still checks the one before. Each request
//! says how it is expected to end, and the host runs none after one that ended otherwise,
//! so an unexpected error stops the window where the case stops. A check that fails on
//! this side (rows, counts) does not stop it: up to [`WINDOW`] − 1 later requests may
//! have run when the case ends there, as their answers are read and dropped.

use std::collections::VecDeque;

use serde::de::DeserializeOwned;

use super::Host;
use super::protocol::{ErrorKind, Expect, Op, Request};
use crate::exec::ExecError;

/// At most this many requests are sent and not yet answered.
pub const WINDOW: usize = 64;

/// The window is topped up once this many of its requests were answered: one write per so
/// many requests, while the host still has the rest to run.
const REFILL: usize = 16;

/// At most this many bytes of requests are sent and not yet answered (the first of a
/// window excepted), well under a pipe's capacity (64 KiB on Linux): writing a window
/// never waits for the host to read, so a host busy writing answers cannot block it.
const WINDOW_BYTES: usize = 16 * 1024;

/// What a session sends ahead: its plan, and what went out of it.
#[derive(Default)]
pub(super) struct Pipeline {
    /// Requests the case will ask for next, not sent yet.
    planned: VecDeque<Ahead>,
    /// Requests sent and not yet answered, oldest first.
    sent: VecDeque<Sent>,
    /// Their lines' bytes.
    sent_bytes: usize,
}

/// A request the case will ask for, and how the spec expects it to end.
pub(super) struct Ahead {
    pub op: Op<'static>,
    pub expect: Expect,
}

struct Sent {
    id: u64,
    ahead: Ahead,
    bytes: usize,
}

impl Pipeline {
    /// Replaces the plan with `calls` (what was sent of the last one stays sent).
    pub fn plan(&mut self, calls: impl IntoIterator<Item = Ahead>) {
        self.planned = calls.into_iter().collect();
    }

    /// Answers `op` on `host`: from the requests sent ahead when it is the next of them
    /// (or the next planned); else as a request of its own, once whatever was sent ahead
    /// has been answered and dropped (the case left its plan).
    pub async fn ask<A: DeserializeOwned>(
        &mut self,
        host: &mut Host,
        op: Op<'_>,
    ) -> Result<A, ExecError> {
        loop {
            if self.sent.front().is_some_and(|s| s.ahead.op == op) {
                // Keep the host fed while this answer is read and checked (before it
                // leaves `sent`: what goes now is pipelined behind it).
                if self.sent.len() <= WINDOW - REFILL {
                    self.send(host).await?;
                }
                let Some(sent) = self.sent.pop_front() else {
                    continue;
                };
                self.sent_bytes -= sent.bytes;
                match host.answer::<A>(sent.id, op.name()).await? {
                    Ok(results) => return Ok(results),
                    Err(skipped) if skipped.kind == ErrorKind::Skipped => {
                        // A request before it ended otherwise than expected and the case
                        // went on past it (`record` does): send the rest again, afresh.
                        self.resend(host, sent.ahead).await?;
                    }
                    Err(error) => return Err(error.into()),
                }
            } else if self.sent.is_empty() && self.planned.front().is_some_and(|a| a.op == op) {
                self.send(host).await?;
            } else {
                self.drain(host).await?;
                self.planned.clear();
                return host.call(op).await;
            }
        }
    }

    /// Answers and drops whatever was sent ahead; what those requests were, in order.
    pub async fn drain(&mut self, host: &mut Host) -> Result<Vec<Ahead>, ExecError> {
        let mut drained = Vec::with_capacity(self.sent.len());
        while let Some(sent) = self.sent.pop_front() {
            self.sent_bytes -= sent.bytes;
            host.answer::<serde_json::Value>(sent.id, sent.ahead.op.name())
                .await?
                .ok();
            drained.push(sent.ahead);
        }
        Ok(drained)
    }

    /// Puts `skipped` and what was sent after it (all skipped too) back at the front of
    /// the plan.
    async fn resend(&mut self, host: &mut Host, skipped: Ahead) -> Result<(), ExecError> {
        let after = self.drain(host).await?;
        for ahead in after.into_iter().rev() {
            self.planned.push_front(ahead);
        }
        self.planned.push_front(skipped);
        Ok(())
    }

    /// Sends planned requests while the window has room, in one write. The first of an
    /// empty window is not pipelined: it runs whatever came before it.
    async fn send(&mut self, host: &mut Host) -> Result<(), ExecError> {
        let mut lines = String::new();
        while self.sent.len() < WINDOW {
            let Some(ahead) = self.planned.front() else {
                break;
            };
            let pipelined = !self.sent.is_empty();
            // Encoded once, as id 0, and sized so before it takes an id, which only a
            // request that goes may use (ids have at most 20 digits).
            let unnumbered = super::encode(&Request {
                id: 0,
                op: ahead.op.clone(),
                expect: Some(ahead.expect),
                pipelined,
            })?;
            if pipelined && self.sent_bytes + unnumbered.len() + 19 > WINDOW_BYTES {
                break;
            }
            let Some(ahead) = self.planned.pop_front() else {
                break;
            };
            let id = host.next_id();
            let line = numbered(&unnumbered, id)?;
            lines.push_str(&line);
            self.sent_bytes += line.len();
            self.sent.push_back(Sent {
                id,
                ahead,
                bytes: line.len(),
            });
        }
        if lines.is_empty() {
            return Ok(());
        }
        super::write_lines(&host.stdin, &lines, &host.driver).await
    }
}

/// A request line encoded with id 0, numbered `id` (the first field of every request).
fn numbered(unnumbered: &str, id: u64) -> Result<String, ExecError> {
    let rest = unnumbered.strip_prefix(r#"{"id":0,"#).ok_or_else(|| {
        ExecError::Client(format!(
            "a request line that does not start with its id: {}",
            super::excerpt(unnumbered)
        ))
    })?;
    Ok(format!(r#"{{"id":{id},{rest}"#))
}

#[cfg(test)]
mod tests {
    use super::super::DriverSession;
    use super::super::transcripts::stand_in;
    use crate::exec::{Call, Planned, Session};
    use crate::registry::PlaceholderStyle;

    fn statements(sql: &[&str]) -> Vec<Planned> {
        sql.iter()
            .map(|s| Planned {
                call: Call::Execute {
                    sql: s.to_string(),
                    params: Vec::new(),
                },
                expect_error: false,
            })
            .collect()
    }

    /// Runs `calls` on a session planned with `plan`, against a host that plays `lines`
    /// (requests it must read, answers it writes), and says how each call ended.
    async fn replay(plan: Vec<Planned>, calls: &[&str], lines: &[String]) -> Vec<String> {
        let (host, player) = stand_in(lines.to_vec());
        let mut session = DriverSession::new(host, false, PlaceholderStyle::Dollar, None);
        session.plan(plan);
        let mut ended = Vec::new();
        for call in calls {
            let done = match *call {
                "rollback" => session.rollback().await.map(|()| None),
                sql => session.execute(sql, &[]).await,
            };
            ended.push(match done {
                Ok(n) => format!("{n:?}"),
                Err(e) => e.to_string(),
            });
        }
        let played = player.await.expect("the player ran");
        assert!(played.is_ok(), "{played:?}");
        ended
    }

    fn request(id: u64, sql: &str, pipelined: bool) -> String {
        let flag = if pipelined {
            r#","pipelined":true"#
        } else {
            ""
        };
        format!(r#"{{"id":{id},"op":"execute","sql":"{sql}","params":[],"expect":"ok"{flag}}}"#)
    }

    fn answer(id: u64) -> String {
        format!(r#"{{"id":{id},"ok":true,"rowcount":1}}"#)
    }

    fn refused(id: u64, kind: &str) -> String {
        format!(r#"{{"id":{id},"ok":false,"error":{{"kind":"{kind}","message":"no"}}}}"#)
    }

    /// The window the plan `a, b, c` sends at once, then `answers`, then `rest`.
    fn window_then(answers: [String; 3], rest: &[String]) -> Vec<String> {
        let mut lines = vec![
            request(1, "a", false),
            request(2, "b", true),
            request(3, "c", true),
        ];
        lines.extend(answers);
        lines.extend_from_slice(rest);
        lines
    }

    #[tokio::test]
    async fn a_plan_goes_out_at_once_and_its_answers_come_back_in_order() {
        let lines = window_then([answer(1), answer(2), answer(3)], &[]);
        let ended = replay(statements(&["a", "b", "c"]), &["a", "b", "c"], &lines).await;
        assert_eq!(ended, ["Some(1)", "Some(1)", "Some(1)"]);
    }

    /// `record` runs on past a failing step: what the host skipped after it is sent again.
    #[tokio::test]
    async fn skipped_requests_are_sent_again_when_the_case_goes_on() {
        let lines = window_then(
            [
                refused(1, "db"),
                refused(2, "skipped"),
                refused(3, "skipped"),
            ],
            &[
                request(4, "b", false),
                request(5, "c", true),
                answer(4),
                answer(5),
            ],
        );
        let ended = replay(statements(&["a", "b", "c"]), &["a", "b", "c"], &lines).await;
        assert_eq!(ended[1..], ["Some(1)", "Some(1)"]);
        assert!(ended[0].contains("no"), "{}", ended[0]);
    }

    /// A case that leaves its plan (a step failed; cleanup rolls back): what was sent
    /// ahead is answered first, then the call goes on its own.
    #[tokio::test]
    async fn a_call_off_the_plan_waits_for_what_was_sent_ahead() {
        let lines = window_then(
            [answer(1), answer(2), answer(3)],
            &[
                r#"{"id":4,"op":"rollback"}"#.to_string(),
                r#"{"id":4,"ok":true}"#.to_string(),
            ],
        );
        let ended = replay(statements(&["a", "b", "c"]), &["a", "rollback"], &lines).await;
        assert_eq!(ended, ["Some(1)", "None"]);
    }

    /// Requests too big to fit the window's bytes go one at a time.
    #[tokio::test]
    async fn big_requests_are_not_sent_ahead() {
        let big: Vec<String> = (0..3)
            .map(|i| format!("{i}{}", "x".repeat(10_000)))
            .collect();
        let sql: Vec<&str> = big.iter().map(String::as_str).collect();
        let mut lines = Vec::new();
        for (id, s) in (1..).zip(&sql) {
            lines.push(request(id, s, false));
            lines.push(answer(id));
        }
        let ended = replay(statements(&sql), &sql, &lines).await;
        assert_eq!(ended, ["Some(1)", "Some(1)", "Some(1)"]);
    }
}
