// The vocal-level remix of the web page: the two stems mixed in the browser with Web Audio
// while they play (no request to the server), from "no vocals" to "original", and a
// download of the remix at the chosen level (32-bit float WAV, so nothing clips).
// window.remix is the page's handle on it (app.js calls load() and stop(); tests read it).
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }
  var slider = $('vocal-level'), label = $('vocal-level-text');
  var playBtn = $('remix-play'), dlBtn = $('remix-download'), status = $('remix-status');
  var ctx = null, buffers = null, nodes = null, startedAt = 0, offset = 0, token = 0;

  // slider 0..100 -> vocal gain: 0 is no vocals (-inf dB), 1..100 is -40..0 dB
  function levelDb(p) { return p <= 0 ? -Infinity : (p - 100) * 0.4; }
  function gainOf(p) { var db = levelDb(p); return db === -Infinity ? 0 : Math.pow(10, db / 20); }
  function text(p) {
    if (p <= 0) return 'no vocals (karaoke)';
    if (p >= 100) return 'original (0 dB)';
    return 'vocals at ' + levelDb(p).toFixed(1) + ' dB';
  }

  // An audio context at the stems' own rate, so that decoding does not resample them
  // and the downloaded remix is sample for sample accompaniment + g * vocals.
  function context(rate) {
    if (ctx && rate && ctx.sampleRate !== rate) { ctx.close(); ctx = null; }
    if (!ctx) {
      var AC = window.AudioContext || window.webkitAudioContext;
      try { ctx = rate ? new AC({sampleRate: rate}) : new AC(); } catch (e) { ctx = new AC(); }
    }
    return ctx;
  }

  // The sample rate in a WAV file's fmt chunk (0 if not a WAV).
  function wavRate(b) {
    var d = new DataView(b);
    if (b.byteLength < 12 || d.getUint32(0, false) !== 0x52494646) return 0;   // 'RIFF'
    for (var p = 12; p + 8 <= b.byteLength;) {
      var id = d.getUint32(p, false), size = d.getUint32(p + 4, true);
      if (id === 0x666d7420 && p + 16 <= b.byteLength) return d.getUint32(p + 12, true); // 'fmt '
      p += 8 + size + (size & 1);
    }
    return 0;
  }

  function stop() {
    if (nodes) {
      offset += context().currentTime - startedAt;
      nodes.sources.forEach(function (s) { s.onended = null; s.stop(); });
      nodes = null;
    }
    playBtn.textContent = 'Play remix';
  }

  function play() {
    if (!buffers) return;
    var c = context();
    if (c.state === 'suspended') c.resume();
    if (offset >= buffers.vocals.duration) offset = 0;
    var vocalGain = c.createGain(), master = c.createGain(), analyser = c.createAnalyser();
    vocalGain.gain.value = gainOf(+slider.value);
    analyser.fftSize = 2048;
    master.connect(analyser);
    analyser.connect(c.destination);
    var sv = c.createBufferSource(), sa = c.createBufferSource();
    sv.buffer = buffers.vocals;
    sa.buffer = buffers.accompaniment;
    sv.connect(vocalGain);
    vocalGain.connect(master);
    sa.connect(master);
    startedAt = c.currentTime;
    sv.start(0, offset);
    sa.start(0, offset);
    sa.onended = function () { if (nodes && nodes.sources[1] === sa) { nodes = null; offset = 0; playBtn.textContent = 'Play remix'; } };
    nodes = {sources: [sv, sa], vocalGain: vocalGain, analyser: analyser};
    playBtn.textContent = 'Pause';
  }

  // RMS of what is playing now (the master bus), for the level meter and for tests.
  function playedRms() {
    if (!nodes) return 0;
    var a = nodes.analyser, data = new Float32Array(a.fftSize);
    a.getFloatTimeDomainData(data);
    var s = 0;
    for (var i = 0; i < data.length; i++) s += data[i] * data[i];
    return Math.sqrt(s / data.length);
  }

  // The remix at gain g, rendered sample by sample: accompaniment + g * vocals.
  function render(g) {
    var v = buffers.vocals, a = buffers.accompaniment;
    var n = Math.min(v.length, a.length), chans = Math.max(v.numberOfChannels, a.numberOfChannels);
    var out = [];
    for (var c = 0; c < chans; c++) {
      var vc = v.getChannelData(Math.min(c, v.numberOfChannels - 1));
      var ac = a.getChannelData(Math.min(c, a.numberOfChannels - 1));
      var o = new Float32Array(n);
      for (var i = 0; i < n; i++) o[i] = ac[i] + g * vc[i];
      out.push(o);
    }
    return {channels: out, sampleRate: v.sampleRate, length: n};
  }

  function wavFloat32(r) {
    var ch = r.channels.length, n = r.length, bytes = n * ch * 4;
    var buf = new ArrayBuffer(44 + bytes), d = new DataView(buf), p = 0;
    function str(s) { for (var i = 0; i < s.length; i++) d.setUint8(p++, s.charCodeAt(i)); }
    function u32(x) { d.setUint32(p, x, true); p += 4; }
    function u16(x) { d.setUint16(p, x, true); p += 2; }
    str('RIFF'); u32(36 + bytes); str('WAVE');
    str('fmt '); u32(16); u16(3); u16(ch); u32(r.sampleRate); u32(r.sampleRate * ch * 4);
    u16(ch * 4); u16(32);
    str('data'); u32(bytes);
    for (var i = 0; i < n; i++) {
      for (var c = 0; c < ch; c++) { d.setFloat32(p, r.channels[c][i], true); p += 4; }
    }
    return new Blob([buf], {type: 'audio/wav'});
  }

  function download() {
    if (!buffers) return;
    var p = +slider.value, url = URL.createObjectURL(wavFloat32(render(gainOf(p))));
    var a = document.createElement('a');
    var db = levelDb(p);
    a.href = url;
    a.download = 'mix_' + (db === -Infinity ? 'no-vocals' : db.toFixed(1) + 'dB') + '.wav';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  function load(stems) {
    stop();
    offset = 0;
    buffers = null;
    var mine = ++token;
    playBtn.disabled = dlBtn.disabled = true;
    status.textContent = 'loading the stems…';
    Promise.all(['vocals', 'accompaniment'].map(function (s) {
      return fetch(stems[s]).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.arrayBuffer();
      });
    })).then(function (raw) {
      if (mine !== token) return null;
      var c = context(wavRate(raw[0]));
      return Promise.all(raw.map(function (b) { return c.decodeAudioData(b); }));
    }).then(function (bs) {
      if (!bs || mine !== token) return;
      buffers = {vocals: bs[0], accompaniment: bs[1]};
      playBtn.disabled = dlBtn.disabled = false;
      status.textContent = '';
      document.body.dataset.remix = 'ready';
    }).catch(function (e) {
      if (mine !== token) return;
      status.textContent = 'The remix player is not available: ' + e.message;
      document.body.dataset.remix = 'error';
    });
  }

  slider.addEventListener('input', function () {
    label.textContent = text(+slider.value);
    if (nodes) nodes.vocalGain.gain.value = gainOf(+slider.value);
  });
  playBtn.addEventListener('click', function () { if (nodes) stop(); else play(); });
  dlBtn.addEventListener('click', download);
  label.textContent = text(+slider.value);

  window.remix = {
    load: load, stop: stop, play: play, render: render, playedRms: playedRms,
    gainOf: gainOf, levelDb: levelDb,
    vocalGain: function () { return nodes ? nodes.vocalGain.gain.value : null; },
    time: function () { return ctx ? ctx.currentTime : 0; },
    // seconds into the song that is playing now (or where it was paused)
    position: function () { return offset + (nodes ? context().currentTime - startedAt : 0); },
    ready: function () { return buffers !== null; }
  };
}());
