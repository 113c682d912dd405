// Every bound on untrusted input, with its reason (design §4). Input over a bound is an explicit
// error (Errc::limit), never a silent truncation: OpenDMARC's CVEs are truncation and overflow
// in exactly these parsers (reference opendmarc.md §8). Each area keeps its own section.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dmarc::limits {

// ---- Mail header fields --------------------------------------------------------------------
// Postfix's header_size_limit default is 102400 bytes for a whole (folded) header field; a
// field longer than that never reaches us intact, so a longer one is hostile.
inline constexpr std::size_t kMaxHeaderFieldBytes = 102400;
// Header fields per message we look at (Postfix's default limit is about 1000 lines of
// headers beyond which it treats the rest as body; 10,000 is far past anything legitimate).
inline constexpr std::size_t kMaxHeaderFields = 10000;
// Comment nesting in RFC 5322 CFWS. Real mail nests one level; deep nesting is a parser attack.
inline constexpr std::size_t kMaxCommentDepth = 32;

// ---- From (RFC 5322 §3.6.2) ------------------------------------------------------------------
// Mailboxes in one From field. RFC 9989 §11.5 asks receivers to cap multi-author evaluation.
inline constexpr std::size_t kMaxFromMailboxes = 100;
// Distinct author domains evaluated for one message (RFC 9989 §5.3.1: "cap the number").
inline constexpr std::size_t kMaxAuthorDomains = 10;

// ---- Domain names (RFC 1035 §2.3.4) ---------------------------------------------------------
inline constexpr std::size_t kMaxDomainBytes = 253;
inline constexpr std::size_t kMaxLabelBytes = 63;

// ---- DMARC record (RFC 7489 §6.3, RFC 9989 §4.7) -----------------------------------------------
// Real records are under 512 bytes; a DNS TXT RRset can be 64 KB. 8 KiB leaves room for long
// rua lists while refusing absurd ones.
inline constexpr std::size_t kMaxDmarcRecordBytes = 8192;
// URIs in one rua or ruf tag. 7489 §6.2: receivers MUST support at least two. A tag with more
// (counted as comma-separated items, malformed ones included) is rejected as a whole with a
// warning, as any other invalid tag value is (RFC 9989 §4.7): keeping the first 16 would be a
// silent choice of destinations the owner did not make. Without a valid rua left, a record
// lacking a valid p is then invalid (RFC 9989 §4.10.1).
inline constexpr std::size_t kMaxReportUris = 16;
// Warning lines kept for one record (they go to logs and the dashboard). An 8 KiB record of
// "x;x;x;..." would otherwise yield 4,000 of them; past the bound one last line says how many
// more there were.
inline constexpr std::size_t kMaxRecordWarnings = 32;
// TXT records at one _dmarc name: more than one DMARC record is "no record" anyway, but other
// TXT records may share the name.
inline constexpr std::size_t kMaxTxtRecordsPerName = 32;

// ---- Policy discovery (RFC 9989 §4.10) ------------------------------------------------------
inline constexpr std::size_t kMaxTreeWalkQueries = 8;
// Labels kept when a tree walk shortens a long name (RFC 9989 §4.10 step 4: "until 7 remain").
inline constexpr std::size_t kTreeWalkShortcutLabels = 7;
// The public suffix list is a local file, not mail, but the fuzz target and a wrong path can
// hand us anything: the 2026 list is 330 KB, so 16 MiB is far past any real one.
inline constexpr std::size_t kMaxPublicSuffixListBytes = 16 * 1024 * 1024;

// ---- Authentication-Results (RFC 8601) ------------------------------------------------------
// Results in one A-R field. OpenDMARC #441 overflowed the stack at 28; real fields hold < 10.
inline constexpr std::size_t kMaxAuthResResults = 64;
// Properties of one result (header.d, header.s, header.b, smtp.mailfrom, ...).
inline constexpr std::size_t kMaxAuthResProperties = 32;
// A-R fields per message the milter reads (each hop adds one; 1,000 is hostile).
inline constexpr std::size_t kMaxAuthResFields = 100;
// Items the parser skipped in one field (malformed resinfos, properties without a ptype,
// legacy text after the authserv-id). Real producers skip < 15 (Fastmail's x-* properties);
// past this the field is garbage and counts as hostile, not as a source of results.
inline constexpr std::size_t kMaxAuthResSkipped = 64;
// Digits in authres-version and method-version (§2.2 "1*DIGIT"; only "1" exists): enough for
// any unsigned value, so the number cannot overflow.
inline constexpr std::size_t kMaxAuthResVersionDigits = 9;

// ---- Received-SPF (RFC 7208 §9.1) -----------------------------------------------------------
// key=value pairs in one field (§9.1 defines 7 keys; unknown keys are kept). Pairs the parser
// could not read count too.
inline constexpr std::size_t kMaxReceivedSpfPairs = 32;

// ---- SPF (RFC 7208 §4.6.4) --------------------------------------------------------------------
inline constexpr std::size_t kSpfMaxDnsTerms = 10;         // include a mx ptr exists redirect
inline constexpr std::size_t kSpfMaxMxNames = 10;          // A/AAAA lookups per mx term
inline constexpr std::size_t kSpfMaxPtrNames = 10;         // names checked per ptr / %{p}
inline constexpr std::size_t kSpfMaxVoidLookups = 2;       // NXDOMAIN or NODATA answers
inline constexpr std::size_t kSpfMaxMacroExpansion = 253;  // expanded domain-spec (a name)
inline constexpr std::size_t kSpfMaxExplanationBytes = 1024;
inline constexpr std::uint32_t kSpfDefaultBudgetMs = 20000;  // §4.6.4: "at least 20 seconds"
// One macro-string expansion before the §7.3 truncation to 253 bytes: bounds the work a hostile
// record (many %{s} over a long MAIL FROM) can cause. Over it: permerror (domain-spec) or the
// explanation is dropped.
inline constexpr std::size_t kSpfMaxMacroOutputBytes = 8192;

// ---- Configuration files ------------------------------------------------------------------------
// opendmarc.conf lines are short; a longer one is a corrupt or wrong file.
inline constexpr std::size_t kMaxConfigLineBytes = 4096;
inline constexpr std::size_t kMaxConfigFileBytes = 1024 * 1024;

// ---- Milter (dmarc-milter) -----------------------------------------------------------------
// IgnoreHosts entries: a site list is tens of lines; a million is a wrong file.
inline constexpr std::size_t kMaxIgnoreHostsEntries = 100000;
inline constexpr std::size_t kMaxIgnoreHostsFileBytes = 8 * 1024 * 1024;
// Header bytes the milter keeps per message for the end-of-message decision. Postfix's
// header_size_limit (102400) bounds the memory of one field, not the number of fields, so a
// sender can pass more. Past this bound (or kMaxHeaderFields) the rest of the block is dropped
// except From fields (next constant), and the message is evaluated on what was kept, with a log
// line. Accepting it unevaluated would let 1 MiB of filler switch DMARC off for a spoof.
inline constexpr std::size_t kMaxMilterHeaderBytes = 1024 * 1024;
// From fields kept past the header bound, each cut to kMaxHeaderFieldBytes + 1 bytes (so an
// oversized one is refused by the From parser as over its limit). One more than
// kMaxAuthorDomains: a message with more author domains is a permerror either way (policy.cpp).
inline constexpr std::size_t kMaxMilterFromFieldsPastBound = kMaxAuthorDomains + 1;
// Envelope recipients kept per message (Postfix's smtpd_recipient_limit default is 1000).
inline constexpr std::size_t kMaxMilterRecipients = 1000;
// One milter protocol packet. Postfix sends header fields whole (header_size_limit 102400) and
// body chunks of at most 65535 bytes; a longer length prefix is not the milter protocol.
inline constexpr std::size_t kMaxMilterPacketBytes = 2 * 1024 * 1024;
// Parsed DMARC / SPF records the milter keeps by their text (io/record_cache): per record kind,
// two generations of at most this many each. The senders a site hears from publish a few
// hundred distinct records; a flood of distinct ones only pushes the older ones out.
inline constexpr std::size_t kRecordCacheEntries = 1024;
// Longer record texts are parsed every time, never kept: real records are a few hundred bytes,
// and this caps what one entry can hold.
inline constexpr std::size_t kMaxCachedRecordBytes = 1024;

// ---- OpenDMARC history text (opendmarc.md §3) --------------------------------------------------
// OpenDMARC's longest lines are arc_policy JSON of a few hundred bytes.
inline constexpr std::size_t kMaxHistoryLineBytes = 65536;
// dkim / spf lines per record (one per signature seen).
inline constexpr std::size_t kMaxHistoryDkimLines = 64;
// Problems listed per file before the reader only counts them.
inline constexpr std::size_t kMaxHistoryIssues = 10000;

// ---- DNS answers (RFC 1035 §3.3, §4.1.3; io/dns) --------------------------------------------
// Resource records of one answer RRset we decode. A 64 KB TCP answer can carry about 4,000 A
// records; no mail domain publishes more than a few dozen. Over it: temperror, not a partial set.
inline constexpr std::size_t kMaxDnsAnswerRecords = 1024;
// A domain name in wire form, length octets included (RFC 1035 §3.1).
inline constexpr std::size_t kMaxDnsWireNameBytes = 255;
// Entries in the Nameservers option (unbound itself uses at most a handful per zone).
inline constexpr std::size_t kMaxNameservers = 16;

// ---- Aggregate reports (RFC 7489 §7.2, RFC 9990; report_xml, io/archive) ------------------------
// One report's XML. The largest real daily reports (big mailbox providers, one policy domain)
// are a few MB; pugixml's DOM takes a few times the input, so 32 MiB bounds memory to ~200 MiB.
inline constexpr std::size_t kMaxReportXmlBytes = 32 * 1024 * 1024;
// Decompressed bytes taken from one gzip or zip attachment (zip-bomb bound): the XML bound.
inline constexpr std::size_t kMaxDecompressedBytes = kMaxReportXmlBytes;
// Entries examined in one zip archive (a report zip holds one file).
inline constexpr std::size_t kMaxZipEntries = 16;
// <record> elements in one report and DKIM entries in one record read back (RFC 9990 §2.1 caps
// the DKIM entries a generator SHOULD write at 100).
inline constexpr std::size_t kMaxReportRecords = 1000000;
inline constexpr std::size_t kMaxReportDkimPerRecord = 1000;
// Warning lines kept for one parsed report (they go to logs). Past it one last line counts the
// rest: an empty <record/> costs 9 bytes of XML and several warnings, so unbounded warnings made
// a 9 MB document take 580 MB (tests/fault XmlBounds.TooManyRecords).
inline constexpr std::size_t kMaxReportWarnings = 1000;
// Destinations one report is mailed to (dmarc-reporter). A record may list
// limits::kMaxReportUris URIs; RFC 7489 §6.2 asks receivers to support at least two. Past this
// bound a URI is recorded as ignored in the ledger with the reason, never silently dropped.
inline constexpr std::size_t kMaxReportDestinations = 8;
// TXT records read at one <policy-domain>._report._dmarc.<host> name (RFC 7489 §7.1).
inline constexpr std::size_t kMaxReportAuthorisationRecords = 16;

// ---- Failure reports (RFC 6591, RFC 9991; core/failure_report) --------------------------------
// The copied header block (text/rfc822-headers). Real header blocks are a few KiB; 64 KiB keeps a
// report mail small while holding every trace field of a long forwarding chain. Fields past it
// are left out and the report's text part says how many.
inline constexpr std::size_t kMaxFailureReportHeaderBytes = 65536;
// Original-Rcpt-To fields in one report (one per envelope recipient). Past it the text part
// counts the rest.
inline constexpr std::size_t kMaxFailureReportRecipients = 100;
// One address copied into Original-Mail-From / Original-Rcpt-To (RFC 5321 §4.5.3.1.3: a path is
// at most 256 octets). A longer one is left out and named in the text part.
inline constexpr std::size_t kMaxFailureReportAddressBytes = 256;
// The original Subject repeated in the report's Subject ("FW: ..."). A longer one gives the
// generic subject instead (the whole Subject field is in the header copy anyway).
inline constexpr std::size_t kMaxFailureReportSubjectBytes = 200;
// DKIM results listed in the report's Authentication-Results and text part (each hop can add
// some; the rest are counted in the text part).
inline constexpr std::size_t kMaxFailureReportDkimResults = 16;
// Other single values copied into feedback fields (queue id, selector, authserv-id).
inline constexpr std::size_t kMaxFailureReportTokenBytes = 256;
// SPF-DNS fields (RFC 6591 §3.2): records of the SPF domain (RFC 7208 §3.2 allows one; more are
// a permerror worth showing) and the length of one. A longer record is left out and named in the
// text part (RFC 7208 §3.4 already warns past 450 bytes).
inline constexpr std::size_t kMaxFailureReportSpfRecords = 4;
inline constexpr std::size_t kMaxFailureReportSpfRecordBytes = 2048;

// ---- dmarc-web HTTP (issue 7, web/server.cpp) ------------------------------------------------
// Request line and header fields together. Browsers send 1-3 KiB (cookies included); 8 KiB is
// nginx's large_client_header_buffers default. Over it: 431, connection closed.
inline constexpr std::size_t kMaxHttpHeaderBytes = 8192;
// Request body: only the login and logout forms have one (a few hundred bytes). Over it: 413.
inline constexpr std::size_t kMaxHttpBodyBytes = 16384;
// Time for a whole request (headers and body) to arrive, and for a kept-alive connection to send
// its next one: a client trickling bytes slower than this is cut off (slowloris).
inline constexpr std::uint32_t kHttpReadTimeoutMs = 10000;
// Open connections at once; more are closed at accept (each holds buffers and a socket).
inline constexpr std::size_t kMaxHttpConnections = 512;
// A PTR target shown on the sources page (RFC 1035 §2.3.4: 253 bytes of text); longer answers
// are shown as "no name".
inline constexpr std::size_t kMaxPtrNameBytes = 253;
// Report preview: the decompressed XML shown on a report's page. Reports we build are far smaller
// (a record per source and result); a larger archive is offered for download only.
inline constexpr std::size_t kMaxReportPreviewBytes = 4 * 1024 * 1024;
// Suppression comment, as typed by an admin.
inline constexpr std::size_t kMaxSuppressionCommentBytes = 500;
// DNS check: the whole request (tree walk plus SPF) must finish in this time; later queries answer
// temperror without being sent.
inline constexpr std::uint32_t kDnsCheckBudgetMs = 6000;
// Domains in one dashboard user's scope (`dmarc-web user ... --domains`): each is two bound
// parameters of every scoped query (SQLite allows 32766 since 3.32).
inline constexpr std::size_t kMaxScopeDomains = 1000;

}  // namespace dmarc::limits
