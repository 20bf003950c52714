// The message counter: the engine's own segmentation (smpp/coding, as the
// API bills it) compiled to WebAssembly (counter.wasm, built from
// console/wasm). There is no second implementation in JavaScript: until
// the wasm runs, the counter says it is counting.

let loading = null;

// loadCounter resolves to count(text, smart) → {encoding, units, chars,
// segments, free, per_segment, too_long, max_segments, error, text,
// smart_applied, replaced, segments_saved}, for the text as the API sends
// it with smart encoding on (smart true) or off.
export function loadCounter() {
  if (!loading) {
    loading = (async () => {
      if (typeof globalThis.Go !== 'function') throw new Error('wasm_exec.js did not load');
      const go = new globalThis.Go();
      const {instance} = await WebAssembly.instantiateStreaming(fetch('/console/counter.wasm'), go.importObject);
      go.run(instance); // main sets switchboardCount, then blocks forever
      const fn = globalThis.switchboardCount;
      if (typeof fn !== 'function') throw new Error('the counter did not start');
      return (text, smart) => fn(text, !!smart);
    })();
    loading.catch(e => console.error('counter:', e));
  }
  return loading;
}

const ENC = {gsm7: 'GSM-7', ucs2: 'UCS-2'};

export function encodingName(e) {
  return ENC[e] || String(e || '').toUpperCase();
}

// describe says a count in words.
export function describe(r) {
  if (r.error) return 'This text cannot be sent as SMS: ' + r.error;
  const parts = r.segments === 1 ? '1 part' : `${r.segments} parts`;
  const chars = r.chars === 1 ? '1 character' : `${r.chars.toLocaleString()} characters`;
  if (r.too_long) return `${chars} · ${encodingName(r.encoding)} · ${parts}: too long, at most ${r.max_segments} parts`;
  const saved = r.segments_saved > 0 ? ` · smart encoding saves ${r.segments_saved === 1 ? '1 part' : r.segments_saved + ' parts'}` : '';
  return `${chars} · ${encodingName(r.encoding)} · ${parts} · ${r.free} left in this part${saved}`;
}
