package api

import (
	"encoding/json"
	"net/http"

	"github.com/switchboard-sms/switchboard/inbox"
)

// MaxBatchMessages is the most messages one POST /v1/messages/batch takes.
const MaxBatchMessages = 1000

type batchRequest struct {
	Messages []json.RawMessage `json:"messages"`
}

type batchResponse struct {
	Results []batchResult `json:"results"`
}

// batchResult is one item's answer: the status POST /v1/messages would
// have answered the item with, and that answer's body, the message (202;
// 200 for a repeated client_ref) or the error object (any other status).
type batchResult struct {
	Status  int           `json:"status"`
	Message *sendResponse `json:"message,omitempty"`
	Error   *errorDetail  `json:"error,omitempty"`
}

// sendBatch: POST /v1/messages/batch. Each item is checked and answered
// as POST /v1/messages checks and answers its body; the valid ones are
// stored in one Enqueue call (one transaction), not through the group
// commit (a batch is already one). The answer is 200 with a result per
// item, in request order, once they are committed. Only a body that is
// not {"messages": [1..MaxBatchMessages items]} is refused as a whole
// (400, 413, 415), and a database error (503: nothing was stored). The
// valid items count against the workspace's messages per second one each:
// those beyond what it allows are answered 429 rate_limited, the others
// are sent.
func (c *call) sendBatch() error {
	body, err := c.readBodyMax(c.s.cfg.MaxBatchBodyBytes)
	if err != nil {
		return err
	}
	var req batchRequest
	if err := decodeObject(body, &req); err != nil {
		return err
	}
	if n := len(req.Messages); n == 0 || n > MaxBatchMessages {
		return errorf(http.StatusBadRequest, codeInvalidRequest, "messages must list 1 to %d messages, not %d", MaxBatchMessages, n)
	}
	smart, err := c.s.smartDefault(c.ctx, c.ws)
	if err != nil {
		return err
	}
	results := make([]batchResult, len(req.Messages))
	items := make([]outgoing, 0, len(req.Messages))
	reqs := make([]inbox.OutboundRequest, 0, len(req.Messages))
	at := make([]int, 0, len(req.Messages)) // the result of each stored item
	for i, raw := range req.Messages {
		o, err := c.parseItem(raw, smart)
		if err != nil {
			results[i] = failed(err)
			continue
		}
		items = append(items, o)
		reqs = append(reqs, o.request(c.ws))
		at = append(at, i)
	}
	// The valid items count against the messages per second, in request
	// order: those past what the limit grants are refused, each with 429
	// rate_limited.
	if n, err := c.takeMessages(len(items)); err != nil {
		for _, i := range at[n:] {
			results[i] = failed(err)
		}
		items, reqs, at = items[:n], reqs[:n], at[:n]
	}
	res, err := c.s.enqueue(c.ctx, reqs)
	if err != nil {
		return err
	}
	for k, i := range at {
		a, err := c.answer(&items[k], res[k])
		if err != nil {
			if toAPIError(err).status >= 500 {
				return err // reading a repeated client_ref's message failed
			}
			results[i] = failed(err)
			continue
		}
		results[i] = batchResult{Status: a.status, Message: &a.body}
	}
	return c.json(http.StatusOK, batchResponse{Results: results})
}

// parseItem checks one item as POST /v1/messages checks its body, within
// the same limit (413 payload_too_large past it).
func (c *call) parseItem(raw []byte, smartDefault bool) (outgoing, error) {
	if max := c.s.cfg.MaxBodyBytes; int64(len(raw)) > max {
		return outgoing{}, errTooLarge(max)
	}
	return parseOutgoing(raw, smartDefault)
}

// failed is the result of an item refused with err.
func failed(err error) batchResult {
	ae := toAPIError(err)
	d := ae.detail()
	return batchResult{Status: ae.status, Error: &d}
}
