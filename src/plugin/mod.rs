//! The plugin contract: every Corefile directive that answers queries implements [`Plugin`],
//! and a server block's plugins run as a [`Chain`] in the fixed order of the plugin registry
//! ([`crate::plugins::REGISTRY`]). How a directive is parsed and started is [`setup`]'s.
//!
//! A plugin either answers or hands the request to the rest of the chain ([`Next`]). Answers are
//! usually ready at once (the cluster index is in memory), so the UDP loop can reply without
//! spawning a task; a plugin that must wait (an upstream, later) returns [`Served::Pending`].

pub mod chase;
pub mod file_poll;
pub mod name_text;
pub mod setup;
#[cfg(test)]
pub mod testing;

pub use setup::{
    BlockSettings, BlockShared, Definition, Fatal, FatalSender, HttpEndpoint, ParseFn, Setup,
    StartContext, StartError, StartFuture, no_plugin, parsed, parsed_all, started,
};

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

/// The transport a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Plain DNS over UDP.
    Udp,
    /// Plain DNS over TCP.
    Tcp,
}

impl Transport {
    /// The name used in logs and metrics labels (`udp`, `tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// A checked query, as plugins see it: exactly one question, class IN, opcode QUERY.
#[derive(Clone, Debug)]
pub struct Request {
    /// The message ID.
    pub id: u16,
    /// The question name, with the client's case.
    pub name: Name,
    /// The question type.
    pub qtype: RecordType,
    /// The question class (always IN once past the checks).
    pub qclass: DNSClass,
    /// RD flag of the query.
    pub recursion_desired: bool,
    /// CD flag of the query.
    pub checking_disabled: bool,
    /// The EDNS DO bit.
    pub dnssec_ok: bool,
    /// The client's EDNS UDP size, if the query had an OPT record.
    pub edns_udp_size: Option<u16>,
    /// Where the query came from.
    pub source: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
    /// Size of the query on the wire.
    pub wire_size: usize,
    /// When the server received it.
    pub received_at: Instant,
    /// The names whose CNAMEs were followed to this request (CNAME chasing), the client's
    /// question first; empty for a client's query.
    pub aliases: Vec<Name>,
}

/// The largest UDP response we send: DNS Flag Day 2020.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// No record takes fewer octets on the wire: an A record whose owner is a compression pointer
/// (2 + type, class, TTL and length 10 + address 4).
const MIN_RECORD_OCTETS: usize = 16;

/// Whether `records` records could fit a message of `limit` octets at all (after its 12-octet
/// header): more than that are not built or encoded to find out that they do not fit.
pub fn records_could_fit(records: usize, limit: usize) -> bool {
    12 + records * MIN_RECORD_OCTETS <= limit
}

/// The records of a section worth building for a response of at most `limit` octets: the
/// fewest that cannot fit, so an answer cut there is truncated (TC=1) as it would be whole.
pub fn records_worth_building(limit: usize) -> usize {
    limit / MIN_RECORD_OCTETS + 1
}

impl Request {
    /// The largest response the client takes, in octets: over TCP 65,535; over UDP its EDNS
    /// size, at least 512 and at most [`MAX_UDP_PAYLOAD`] (RFC 6891 §6.2.3-6.2.5); 512
    /// without EDNS.
    pub fn response_limit(&self) -> usize {
        match self.transport {
            Transport::Tcp => usize::from(u16::MAX),
            Transport::Udp => usize::from(
                self.edns_udp_size
                    .map_or(512, |s| s.clamp(512, MAX_UDP_PAYLOAD)),
            ),
        }
    }

    /// A request for `name`/`qtype` made internally on behalf of `self` (CNAME chasing).
    pub fn derived(&self, name: Name, qtype: RecordType) -> Request {
        let mut derived = Request {
            name,
            qtype,
            ..self.clone()
        };
        derived.aliases.push(self.name.clone());
        derived
    }

    /// How many CNAMEs were followed to this request; 0 for a client's query.
    pub fn depth(&self) -> usize {
        self.aliases.len()
    }

    /// Whether `name` is this request's or one whose CNAME led to it: a CNAME to it closes a
    /// loop.
    pub fn has_passed(&self, name: &Name) -> bool {
        self.name == *name || self.aliases.contains(name)
    }
}

/// A plugin's answer: rcode and the three record sections. The server adds the header flags,
/// the question, EDNS, and truncates to the client's size.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Response code.
    pub rcode: ResponseCode,
    /// AA flag: the plugin is authoritative for the name.
    pub authoritative: bool,
    /// RA flag.
    pub recursion_available: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// Additional section.
    pub additional: Vec<Record>,
    /// The plugin that wrote the answer (logs, metrics).
    pub plugin: &'static str,
    /// An error worth logging by the `errors` plugin.
    pub error: Option<String>,
    /// Send nothing at all (`acl`'s `drop`).
    pub drop: bool,
}

impl Answer {
    /// An empty answer with `rcode`, written by `plugin`.
    pub fn rcode(rcode: ResponseCode, plugin: &'static str) -> Answer {
        Answer {
            rcode,
            authoritative: false,
            recursion_available: false,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            plugin,
            error: None,
            drop: false,
        }
    }

    /// SERVFAIL with an error message for the `errors` plugin.
    pub fn server_failure(plugin: &'static str, error: impl Into<String>) -> Answer {
        Answer {
            error: Some(error.into()),
            ..Answer::rcode(ResponseCode::ServFail, plugin)
        }
    }
}

/// A future answer, for plugins that must wait.
pub type PendingAnswer = Pin<Box<dyn Future<Output = Answer> + Send + 'static>>;

/// What a plugin returns: an answer now, or one to wait for.
pub enum Served {
    /// The answer is ready; the UDP loop replies at once.
    Ready(Answer),
    /// The answer needs waiting; the server spawns a task for it.
    Pending(PendingAnswer),
}

impl Served {
    /// Apply `f` to the answer, now or when it arrives.
    pub fn map(self, f: impl FnOnce(Answer) -> Answer + Send + 'static) -> Served {
        match self {
            Served::Ready(answer) => Served::Ready(f(answer)),
            Served::Pending(fut) => Served::Pending(Box::pin(async move { f(fut.await) })),
        }
    }
}

/// A wait before a request may be served (the first sync of the cluster, at start-up).
pub type StartupWait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Resolves a name through the server's own zones and chains, for plugins that follow a CNAME
/// out of their zone (ExternalName services). Implemented by the server's router.
pub trait Resolve: Send + Sync {
    /// Look `request` up as if a client had asked it.
    fn resolve(&self, request: &Request) -> Served;

    /// The resolver itself, kept for a lookup that must wait for another answer first (`dns64`
    /// asks for A records once the AAAA answer is in); `None` when it cannot be kept.
    fn detached(&self) -> Option<Arc<dyn Resolve>> {
        None
    }
}

/// What a finished response looked like, for plugins that observe (log, metrics).
#[derive(Debug)]
pub struct ResponseSummary<'a> {
    /// The answer that was sent.
    pub answer: &'a Answer,
    /// Size of the response on the wire.
    pub wire_size: usize,
    /// Whether it was truncated (TC=1).
    pub truncated: bool,
}

/// One Corefile directive's behaviour on the query path.
pub trait Plugin: Send + Sync + 'static {
    /// The directive's name, as in the Corefile.
    fn name(&self) -> &'static str;

    /// Answer `request`, or pass it on with `next.serve(request, resolver)`.
    fn serve(&self, request: &Request, next: Next<'_>, resolver: &dyn Resolve) -> Served;

    /// Called after the response to `request` went out (logging, metrics). Must not block.
    fn observe(&self, _request: &Request, _response: &ResponseSummary<'_>) {}

    /// Whether the plugin is ready to serve (readiness probe); `true` if it has no such state.
    fn ready(&self) -> bool {
        true
    }

    /// Called once the server block's listeners are bound, with their addresses (`loop` sends
    /// its start-up probe there).
    fn on_listening(&self, _addresses: &[SocketAddr]) {}

    /// Whether the plugin answers questions of `class`. Most serve only class IN (the
    /// default); `chaos` serves CH, `template` the class it names. A question of another class
    /// skips the plugins that do not serve it.
    fn serves_class(&self, class: DNSClass) -> bool {
        class == DNSClass::IN
    }

    /// A wait the server must do before serving `request`, if any: the `kubernetes` plugin
    /// holds its zones' queries until the first sync, up to `startup_timeout`. Called on every
    /// query: must be cheap when there is nothing to wait for.
    fn startup_wait(&self, _request: &Request) -> Option<StartupWait> {
        None
    }
}

/// The plugins after the current one.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Plugin>],
}

impl<'a> Next<'a> {
    /// Whether there is no plugin after this one.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The rest of the chain as a chain of its own, for a plugin that hands a request on
    /// after an answer it waited for (`forward`'s `next`).
    pub fn to_chain(&self) -> Chain {
        Chain::new(self.rest.to_vec())
    }

    /// Whether the next plugin is named `name`.
    pub fn starts_with(&self, name: &str) -> bool {
        self.rest
            .first()
            .is_some_and(|plugin| plugin.name() == name)
    }

    /// The plugins after those next ones named `name` (`rewrite … stop` skips the rewrite rules
    /// after it).
    pub fn after(self, name: &str) -> Next<'a> {
        let skip = self
            .rest
            .iter()
            .position(|plugin| plugin.name() != name)
            .unwrap_or(self.rest.len());
        Next {
            rest: &self.rest[skip..],
        }
    }

    /// Run the rest of the chain. With nothing left, SERVFAIL (as CoreDNS's `NextOrFailure`).
    /// A question of a class other than IN goes to the next plugin that serves its class, and
    /// is REFUSED when none does.
    pub fn serve(self, request: &Request, resolver: &dyn Resolve) -> Served {
        let mut rest = self.rest;
        if request.qclass != DNSClass::IN {
            let skip = rest
                .iter()
                .position(|plugin| plugin.serves_class(request.qclass))
                .unwrap_or(rest.len());
            rest = &rest[skip..];
            if rest.is_empty() {
                return Served::Ready(Answer::rcode(ResponseCode::Refused, "chain"));
            }
        }
        match rest.split_first() {
            Some((plugin, rest)) => plugin.serve(request, Next { rest }, resolver),
            None => Served::Ready(Answer::server_failure(
                "chain",
                "no next plugin found for the name",
            )),
        }
    }
}

/// A server block's plugins, in the fixed order.
#[derive(Clone, Default)]
pub struct Chain {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Chain {
    /// A chain of `plugins`, already sorted in the fixed order.
    pub fn new(plugins: Vec<Arc<dyn Plugin>>) -> Chain {
        Chain { plugins }
    }

    /// Run the chain from its first plugin.
    pub fn serve(&self, request: &Request, resolver: &dyn Resolve) -> Served {
        Next {
            rest: &self.plugins,
        }
        .serve(request, resolver)
    }

    /// Tell every plugin where the block listens.
    pub fn on_listening(&self, addresses: &[SocketAddr]) {
        for plugin in &self.plugins {
            plugin.on_listening(addresses);
        }
    }

    /// Whether a plugin of the chain serves questions of `class`.
    pub fn serves_class(&self, class: DNSClass) -> bool {
        self.plugins.iter().any(|p| p.serves_class(class))
    }

    /// The first wait a plugin asks for before `request` is served.
    pub fn startup_wait(&self, request: &Request) -> Option<StartupWait> {
        self.plugins.iter().find_map(|p| p.startup_wait(request))
    }

    /// Tell every plugin how the response went.
    pub fn observe(&self, request: &Request, response: &ResponseSummary<'_>) {
        for plugin in &self.plugins {
            plugin.observe(request, response);
        }
    }

    /// The names of the plugins that are not ready.
    pub fn not_ready(&self) -> Vec<&'static str> {
        self.plugins
            .iter()
            .filter(|p| !p.ready())
            .map(|p| p.name())
            .collect()
    }

    /// The plugins, in order.
    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }
}

/// Aborts a plugin's background task (a source, a reload loop) when dropped: the task stops
/// with the plugin.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
