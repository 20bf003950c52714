package inbox

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Inbound is one whole mobile-originated message (reassembled when it came
// in parts).
type Inbound struct {
	Carrier    string
	From       string // the contact, E.164 where the carrier gave a number
	To         string // our number, E.164
	Body       string
	Encoding   string
	Segments   int       // how many parts it came in; 0 means 1
	ReceivedAt time.Time // when the carrier delivered it; zero means now
	// Parts names the part set this message was reassembled from (see
	// StoreInboundParts). The set is deleted in the same transaction that
	// stores the message; if it is already gone (another process stored
	// this message), the message is not stored again and Duplicate is set.
	Parts *PartSetKey
}

// InboundResult is where one inbound message went.
type InboundResult struct {
	Message   MessageID   // the stored message, 0 when unrouted or a duplicate
	Thread    ThreadID    // its thread
	Workspace WorkspaceID // the workspace it was routed to
	Unrouted  UnroutedID  // set when no workspace could claim it
	Keyword   Keyword     // the keyword applied (opt-out, opt-in, help), if any
	// Reply is the keyword reply queued for this message (see
	// KeywordSettings), 0 when none; ReplyErr says why a configured reply
	// was not queued (a refusal such as ErrNumberDisabled, or a database
	// error: the inbound message itself is stored all the same).
	Reply     MessageID
	ReplyErr  error
	Duplicate bool // its part set was already stored by another call
	// SelfTest is set when the message carried the token of a self-test
	// (see StartSelfTest): it is recorded on the self-test and stored
	// nowhere else (no thread, not unrouted).
	SelfTest bool
}

// AppendInbound stores inbound messages, durably: when it returns nil, every
// message is committed (so the caller may now acknowledge it to the carrier).
// Routing, by the To number: a dedicated number → its owner; a shared number
// → the workspace that most recently wrote to this contact from this number;
// otherwise (unknown or retired number, or nobody wrote) the message is kept
// as unrouted, never dropped. A routed message lands in its thread, created
// if new: the thread is found or created with INSERT ... ON CONFLICT on its
// unique key, so concurrent first messages from one contact make one thread.
// A body that is exactly a keyword under the workspace's KeywordSettings
// (see KeywordSettings.Match) opts the contact out of that workspace (an
// opt-out keyword) or back in (an opt-in keyword); the message is still
// stored, and the contact's state records the keyword as its source.
// Within a batch, the last opt-out or opt-in keyword of a contact wins.
// When the workspace has a reply for the keyword, it is queued after the
// batch commits, like any outbound message (Enqueue, from the number the
// keyword came to, exempt from the opt-out, idempotent per inbound
// message), and lands in the thread; a crash between the two loses the
// reply, never the inbound message or the opt-out. A
// message carrying a self-test's token is the self-test's probe coming
// back: it is recorded on the self-test instead (InboundResult.SelfTest).
// One round trip, and one more (Enqueue) when keyword replies are due.
func (s *Store) AppendInbound(ctx context.Context, msgs []Inbound) ([]InboundResult, error) {
	res := make([]InboundResult, len(msgs))
	if len(msgs) == 0 {
		return res, nil
	}
	n := len(msgs)
	var (
		ord      = make([]int32, 0, n)
		carrier  = make([]string, 0, n)
		src      = make([]string, 0, n)
		dst      = make([]string, 0, n)
		body     = make([]string, 0, n)
		enc      = make([]string, 0, n)
		segs     = make([]int16, 0, n)
		at       = make([]time.Time, 0, n)
		kwdef    = make([]int16, 0, n)
		kwnorm   = make([]string, 0, n)
		kwlangs  = make([]string, 0, n)
		pCarrier = make([]string, 0, n)
		pSrc     = make([]string, 0, n)
		pDst     = make([]string, 0, n)
		pRef     = make([]int32, 0, n)
		pTotal   = make([]int16, 0, n)
		probe    = make([]string, 0, n)
		sets     = map[PartSetKey]int{}
		dupOf    = map[int]int{}
	)
	now := time.Now()
	for i, m := range msgs {
		if m.Parts != nil {
			if j, ok := sets[*m.Parts]; ok {
				dupOf[i] = j
				continue
			}
			sets[*m.Parts] = i
		}
		sg := m.Segments
		if sg < 1 {
			sg = 1
		}
		if sg > 255 {
			sg = 255
		}
		t := m.ReceivedAt
		if t.IsZero() {
			t = now
		}
		ord = append(ord, int32(i))
		carrier = append(carrier, strings.TrimSpace(m.Carrier))
		src = append(src, normalizeAddress(m.From))
		dst = append(dst, normalizeAddress(m.To))
		body = append(body, m.Body)
		enc = append(enc, m.Encoding)
		segs = append(segs, int16(sg))
		at = append(at, t)
		kn, kd, kl := matchDefault(m.Body)
		kwnorm, kwdef, kwlangs = append(kwnorm, kn), append(kwdef, int16(kd)), append(kwlangs, kl)
		probe = append(probe, selfTestToken(m.Body))
		if p := m.Parts; p != nil {
			pCarrier, pSrc, pDst = append(pCarrier, p.Carrier), append(pSrc, p.Source), append(pDst, p.Destination)
			pRef, pTotal = append(pRef, int32(p.Reference)), append(pTotal, int16(p.Total))
		} else {
			pCarrier, pSrc, pDst = append(pCarrier, ""), append(pSrc, ""), append(pDst, "")
			pRef, pTotal = append(pRef, 0), append(pTotal, 0)
		}
	}
	var replies []OutboundRequest
	var replyOf []int // replies[j] answers msgs[replyOf[j]]
	err := retry(ctx, func() error {
		replies, replyOf = replies[:0], replyOf[:0]
		return s.queryPlanned(ctx, planFor(len(ord)), appendInboundSQL, []any{ord, carrier, src, dst, body, enc, segs, at, kwdef,
			pCarrier, pSrc, pDst, pRef, pTotal, probe, kwnorm, kwlangs}, func(rows pgx.Rows) error {
			var (
				i               int32
				id, th, ws, unr int64
				k               int16
				live, selfTest  bool
				rtext, renc     *string
				rsegs           *int16
			)
			if err := rows.Scan(&i, &live, &id, &th, &ws, &unr, &k, &selfTest, &rtext, &renc, &rsegs); err != nil {
				return err
			}
			if rtext != nil && id != 0 && renc != nil && rsegs != nil {
				m := msgs[i]
				replies = append(replies, OutboundRequest{Workspace: WorkspaceID(ws), From: normalizeAddress(m.To),
					To: normalizeAddress(m.From), Body: *rtext, Encoding: *renc, Segments: int(*rsegs),
					IdempotencyKey: keywordReplyKey(MessageID(id)), OptOutExempt: true})
				replyOf = append(replyOf, int(i))
			}
			r := InboundResult{Message: MessageID(id), Thread: ThreadID(th), Workspace: WorkspaceID(ws),
				Unrouted: UnroutedID(unr), Duplicate: !live && !selfTest, SelfTest: selfTest}
			if ws != 0 {
				r.Keyword = Keyword(k)
			}
			res[i] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range dupOf {
		res[i] = InboundResult{Duplicate: true}
	}
	if len(replies) > 0 {
		out, err := s.Enqueue(ctx, replies)
		for j, i := range replyOf {
			switch {
			case err != nil:
				res[i].ReplyErr = err
			case out[j].Err != nil:
				res[i].ReplyErr = out[j].Err
			default:
				res[i].Reply = out[j].ID
			}
		}
	}
	return res, nil
}

// keywordReplyKey is the idempotency key of the reply to inbound message
// id: a call retried after its inbound batch committed queues it once. The
// "sb:" prefix is a namespace of the inbox's own keys in the workspace's
// idempotency keys.
func keywordReplyKey(id MessageID) string {
	return "sb:keyword-reply:" + strconv.FormatInt(int64(id), 10)
}

const appendInboundSQL = `
WITH r AS (
    SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::int2[], $8::timestamptz[], $9::int2[],
                         $10::text[], $11::text[], $12::text[], $13::int4[], $14::int2[], $15::text[],
                         $16::text[], $17::text[])
        AS r(ord, carrier, src, dst, body, enc, segs, at, kwdef, pcarrier, psrc, pdst, pref, ptotal, probe,
             kwnorm, kwlangs)
),
-- Self-test probes coming back: recorded on their self-test (the first
-- arrival), routed nowhere. A token no self-test has is an ordinary text.
probe AS MATERIALIZED (
    SELECT r.ord, st.id FROM r JOIN self_tests st ON st.token = r.probe
    WHERE r.probe <> ''
),
probe_upd AS (
    UPDATE self_tests st
    SET returned_at = p.at, returned_from = p.src, returned_to = p.dst, returned_carrier = p.carrier
    FROM (SELECT DISTINCT ON (probe.id) probe.id, r.at, r.src, r.dst, r.carrier
          FROM probe JOIN r ON r.ord = probe.ord ORDER BY probe.id, r.ord) p
    WHERE st.id = p.id AND st.returned_at IS NULL
),
del AS (
    DELETE FROM inbound_part_sets p
    USING r
    WHERE r.ptotal > 0 AND p.carrier = r.pcarrier AND p.source = r.psrc
      AND p.destination = r.pdst AND p.reference = r.pref AND p.total = r.ptotal
    RETURNING p.carrier, p.source, p.destination, p.reference, p.total
),
route AS MATERIALIZED (
    SELECT r.*, n.id AS number_id,
        CASE WHEN n.kind = 'dedicated' THEN n.workspace_id ELSE lw.workspace_id END AS ws,
        CASE WHEN n.id IS NULL THEN 'unknown_number' ELSE 'no_writer' END AS reason
    FROM r
    LEFT JOIN LATERAL (
        SELECT n.id, n.kind, n.workspace_id FROM numbers n
        WHERE n.e164 = r.dst AND n.status = 'active'
        LIMIT 1
    ) n ON true
    LEFT JOIN LATERAL (
        SELECT t.workspace_id FROM threads t
        WHERE n.kind = 'shared' AND t.number_id = n.id AND t.contact = r.src
          AND t.last_outbound_at IS NOT NULL
        ORDER BY t.last_outbound_at DESC, t.id DESC
        LIMIT 1
    ) lw ON true
    WHERE (r.ptotal = 0 OR EXISTS (
        SELECT 1 FROM del d
        WHERE d.carrier = r.pcarrier AND d.source = r.psrc AND d.destination = r.pdst
          AND d.reference = r.pref AND d.total = r.ptotal))
      AND NOT EXISTS (SELECT 1 FROM probe WHERE probe.ord = r.ord)
),
-- The keyword of each routed message under its workspace's settings (see
-- KeywordSettings.Match): a custom keyword first (action 0 turns a default
-- off), else the default one if one of its languages is on. Primary-key
-- probes, only for bodies short enough to be a keyword.
ids AS MATERIALIZED (
    SELECT nextval('messages_id_seq') AS id, x.*
    FROM (SELECT rt.*,
                 coalesce(wk.action, CASE WHEN rt.kwdef <> 0
                     AND string_to_array(rt.kwlangs, ',') && wl.keyword_languages THEN rt.kwdef END, 0)::int2 AS kw
          FROM route rt
          LEFT JOIN LATERAL (
              SELECT k.action FROM workspace_keywords k
              WHERE rt.kwnorm <> '' AND k.workspace_id = rt.ws AND k.keyword = rt.kwnorm
          ) wk ON true
          LEFT JOIN LATERAL (
              SELECT w.keyword_languages FROM workspaces w WHERE rt.kwdef <> 0 AND w.id = rt.ws
          ) wl ON true
          WHERE rt.ws IS NOT NULL ORDER BY rt.ord) x
),
th AS (
    INSERT INTO threads AS t (workspace_id, channel, number_id, contact, last_message_at, unread_count)
    SELECT ws, 'sms', number_id, src, now(), count(*) FROM ids
    GROUP BY ws, number_id, src
    ORDER BY ws, number_id, src
    ON CONFLICT (workspace_id, channel, number_id, contact) DO UPDATE
        SET last_message_at = excluded.last_message_at,
            unread_count = t.unread_count + excluded.unread_count
    RETURNING t.id, t.workspace_id, t.number_id, t.contact
),
ins AS (
    INSERT INTO messages (id, workspace_id, thread_id, number_id, contact, direction, body,
                          encoding, segments, status, created_at, received_at)
    SELECT i.id, i.ws, th.id, i.number_id, i.src, 'in', i.body, i.enc, i.segs, 'received', now(), i.at
    FROM ids i
    JOIN th ON th.workspace_id = i.ws AND th.number_id = i.number_id AND th.contact = i.src
    RETURNING id, thread_id
),
uids AS MATERIALIZED (
    SELECT nextval('unrouted_messages_id_seq') AS id, x.*
    FROM (SELECT * FROM route WHERE ws IS NULL ORDER BY ord) x
),
unr AS (
    INSERT INTO unrouted_messages (id, carrier, source, destination, body, encoding, segments, reason, received_at)
    SELECT id, carrier, src, dst, body, enc, segs, reason, at FROM uids
),
opt AS (
    INSERT INTO contacts AS c (workspace_id, contact, opted_out, source, keyword, changed_at)
    SELECT DISTINCT ON (ws, src) ws, src, kw = 1, 'keyword', kwnorm, now() FROM ids
    WHERE kw IN (1, 2)
    ORDER BY ws, src, ord DESC
    ON CONFLICT (workspace_id, contact) DO UPDATE
        SET opted_out = excluded.opted_out, source = excluded.source, keyword = excluded.keyword,
            changed_at = excluded.changed_at
)
SELECT r.ord, (rt.ord IS NOT NULL), coalesce(ins.id, 0), coalesce(ins.thread_id, 0),
       coalesce(i.ws, 0), coalesce(u.id, 0), coalesce(i.kw, 0), EXISTS (SELECT 1 FROM probe WHERE probe.ord = r.ord),
       rp.text, rp.enc, rp.segs
FROM r
LEFT JOIN route rt ON rt.ord = r.ord
LEFT JOIN ids i ON i.ord = r.ord
LEFT JOIN ins ON ins.id = i.id
LEFT JOIN uids u ON u.ord = r.ord
LEFT JOIN LATERAL (
    SELECT CASE i.kw WHEN 1 THEN w.opt_out_reply WHEN 2 THEN w.opt_in_reply ELSE w.help_reply END AS text,
           w.reply_encodings[i.kw] AS enc, w.reply_segments[i.kw] AS segs
    FROM workspaces w WHERE i.kw <> 0 AND w.id = i.ws
) rp ON true
`
