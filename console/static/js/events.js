// The workspace's live events: GET /v1/events read with fetch() and a
// streaming body (EventSource cannot send the Authorization header), the
// server-sent events parsed here, reconnecting with Last-Event-ID so no
// change is missed across a reconnect.
//
// Listeners: stream.on('message.received' | 'message.status' |
// 'number_request.status' | 'resync' | 'state', fn). 'resync' means the
// stream restarted without its position (history may have been missed):
// reload what is shown. 'state' is 'connecting', 'live' or 'retrying'.

export class EventStream {
  constructor(token) {
    this.token = token;
    this.lastId = '';
    this.retry = 2000;
    this.failures = 0;
    this.listeners = new Map();
    this.abort = null;
    this.stopped = false;
    this.state = 'connecting';
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, data) {
    for (const fn of this.listeners.get(type) || []) {
      try { fn(data); } catch (e) { console.warn('event listener failed', e); }
    }
  }

  setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.emit('state', s);
    }
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.abort?.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.connect();
        this.failures = 0; // the stream ended cleanly (server restart): reconnect soon
      } catch (e) {
        if (this.stopped) return;
        if (e.status === 401) {
          this.setState('closed');
          this.emit('unauthorized', e);
          return;
        }
        if (e.status === 400) this.lastId = ''; // a cursor the server no longer knows
        this.failures++;
      }
      if (this.stopped) return;
      this.setState('retrying');
      const wait = Math.min(this.retry * 2 ** Math.max(0, this.failures - 1), 30000) * (0.75 + Math.random() / 2);
      await new Promise(r => setTimeout(r, wait));
    }
  }

  async connect() {
    this.abort = new AbortController();
    const headers = {Authorization: 'Bearer ' + this.token, Accept: 'text/event-stream'};
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const resp = await fetch('/v1/events', {headers, signal: this.abort.signal, cache: 'no-store', credentials: 'omit'});
    if (!resp.ok) {
      const err = new Error('events: HTTP ' + resp.status);
      err.status = resp.status;
      throw err;
    }
    const fresh = !this.lastId;
    this.setState('live');
    if (fresh && this.hadStream) this.emit('resync'); // started over: what happened meanwhile is unknown
    this.hadStream = true;
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    const p = new Parser(ev => this.dispatch(ev), ms => { this.retry = ms; });
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      p.push(value);
    }
  }

  dispatch(ev) {
    if (ev.id !== undefined) this.lastId = ev.id;
    if (!ev.data) return;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    this.emit(ev.event || 'message', data);
  }
}

// Parser is the text/event-stream parser of the HTML standard (9.2.6):
// lines end with CRLF, LF or CR; "field: value"; a blank line dispatches.
export class Parser {
  constructor(onEvent, onRetry) {
    this.onEvent = onEvent;
    this.onRetry = onRetry || (() => {});
    this.buf = '';
    this.data = [];
    this.event = '';
    this.id = undefined;
    this.pendingCR = false;
  }

  push(chunk) {
    let s = this.buf + chunk;
    if (this.pendingCR && s.startsWith('\n')) s = s.slice(1);
    this.pendingCR = false;
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(s.slice(start, i));
      if (c === '\r') {
        if (i + 1 < s.length) {
          if (s[i + 1] === '\n') i++;
        } else {
          this.pendingCR = true; // a LF may follow in the next chunk
        }
      }
      start = i + 1;
    }
    this.buf = s.slice(start);
  }

  line(l) {
    if (l === '') {
      if (this.data.length || this.id !== undefined) {
        this.onEvent({id: this.id, event: this.event, data: this.data.join('\n')});
      }
      this.data = [];
      this.event = '';
      this.id = undefined;
      return;
    }
    if (l.startsWith(':')) return; // a comment: heartbeat
    let field = l, value = '';
    const colon = l.indexOf(':');
    if (colon >= 0) {
      field = l.slice(0, colon);
      value = l.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'data': this.data.push(value); break;
      case 'event': this.event = value; break;
      case 'id': if (!value.includes('\0')) this.id = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.onRetry(Number(value)); break;
    }
  }
}
