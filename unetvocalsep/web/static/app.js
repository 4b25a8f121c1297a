// The page of `python -m unetvocalsep.web`: upload a song, follow its job, play the stems.
// No build step and no external code. The page's state is mirrored in
// <body data-state="idle|uploading|queued|running|done|failed|error"> for tests.
(function () {
  'use strict';

  var body = document.body;
  var SUBMIT_URL = body.dataset.submitUrl;
  var MAX_BYTES = parseFloat(body.dataset.maxUploadMb) * 1024 * 1024;
  var ACCEPT = body.dataset.accept.split(',');
  var POLL_MS = 500;
  var STEMS = ['original', 'vocals', 'accompaniment'];

  function $(id) { return document.getElementById(id); }
  var drop = $('drop'), input = $('file');
  var uploadBar = $('upload-bar'), uploadText = $('upload-text');
  var jobBar = $('job-bar'), jobText = $('job-text');
  var errorBox = $('error'), result = $('result');
  var generation = 0;   // a new upload makes the older one's callbacks stale
  var pollTimer = null;

  function setState(state) { body.dataset.state = state; }

  function setBar(bar, fraction) {
    if (fraction === null) { bar.removeAttribute('value'); }   // indeterminate
    else { bar.value = Math.max(0, Math.min(1, fraction)); }
  }

  function megabytes(n) { return (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + ' MB'; }

  function seconds(s) {
    s = Math.round(s);
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  function fail(message, state) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    setState(state || 'error');
  }

  function reset() {
    generation += 1;
    if (pollTimer !== null) { clearTimeout(pollTimer); pollTimer = null; }
    errorBox.hidden = true;
    errorBox.textContent = '';
    result.hidden = true;
    $('spectrogram-figure').hidden = true;
    if (window.remix) { window.remix.stop(); delete body.dataset.remix; }
    STEMS.forEach(function (stem) {
      var audio = $('audio-' + stem);
      audio.pause();
      audio.removeAttribute('src');
      audio.load();
    });
    setBar(uploadBar, 0); uploadText.textContent = '';
    setBar(jobBar, 0); jobText.textContent = '';
  }

  function extension(name) {
    var i = name.lastIndexOf('.');
    return i < 0 ? '' : name.slice(i).toLowerCase();
  }

  function start(file) {
    reset();
    var mine = generation;
    $('file-name').textContent = file.name;
    $('progress').hidden = false;
    var ext = extension(file.name);
    if (ACCEPT.indexOf(ext) < 0 && !(file.type || '').startsWith('audio/')) {
      fail('"' + file.name + '" is not a wav, flac, ogg or mp3 file.');
      return;
    }
    if (file.size > MAX_BYTES) {
      fail('The file is too large (' + megabytes(file.size) + '): this server accepts uploads up to ' +
           megabytes(MAX_BYTES) + '.');
      return;
    }
    var form = new FormData();
    form.append('file', file, file.name);
    form.append('wiener', $('wiener').checked ? '1' : '0');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', SUBMIT_URL);
    xhr.setRequestHeader('X-Unetvocalsep-Token', body.dataset.token);
    xhr.responseType = 'json';
    xhr.upload.onprogress = function (e) {
      if (mine !== generation) { return; }
      if (e.lengthComputable) {
        setBar(uploadBar, e.loaded / e.total);
        uploadText.textContent = megabytes(e.loaded) + ' of ' + megabytes(e.total);
      } else {
        setBar(uploadBar, null);
        uploadText.textContent = megabytes(e.loaded);
      }
    };
    xhr.onload = function () {
      if (mine !== generation) { return; }
      var answer = xhr.response || {};
      if (xhr.status === 202 && answer.status_url) {
        setBar(uploadBar, 1);
        uploadText.textContent = 'done, ' + megabytes(file.size);
        setState('queued');
        jobText.textContent = 'Waiting for the server…';
        poll(answer.status_url, mine, 0);
      } else {
        uploadText.textContent = 'refused';
        fail(answer.error || ('The upload failed (HTTP ' + xhr.status + ').'));
      }
    };
    xhr.onerror = function () {
      if (mine !== generation) { return; }
      uploadText.textContent = 'failed';
      fail('The upload failed: the server could not be reached.');
    };
    setState('uploading');
    uploadText.textContent = '0 of ' + megabytes(file.size);
    xhr.send(form);
  }

  function poll(url, mine, failures) {
    fetch(url, {cache: 'no-store'}).then(function (response) {
      return response.json().then(function (job) { return [response.status, job]; });
    }).then(function (answer) {
      if (mine !== generation) { return; }
      var status = answer[0], job = answer[1];
      if (status !== 200) {
        fail(job.error || ('The job could not be followed (HTTP ' + status + ').'));
        return;
      }
      show(job);
      if (job.status === 'queued' || job.status === 'running') {
        pollTimer = setTimeout(function () { poll(url, mine, 0); }, POLL_MS);
      }
    }).catch(function () {
      if (mine !== generation) { return; }
      if (failures >= 10) {
        fail('Lost contact with the server.');
        return;
      }
      pollTimer = setTimeout(function () { poll(url, mine, failures + 1); }, 2000);
    });
  }

  function show(job) {
    if (job.status === 'queued') {
      setBar(jobBar, null);
      jobText.textContent = job.queue_position > 1
        ? 'Queued: ' + (job.queue_position - 1) + ' song' + (job.queue_position > 2 ? 's' : '') +
          ' ahead (position ' + job.queue_position + ')'
        : 'Queued: next (position 1)';
    } else if (job.status === 'running') {
      setBar(jobBar, job.progress);
      jobText.textContent = 'Separating: ' + Math.round(job.progress * 100) + '% (' +
        seconds(job.seconds_done) + ' of ' + seconds(job.duration) + ')';
    } else if (job.status === 'done') {
      setBar(jobBar, 1);
      jobText.textContent = 'Done: ' + seconds(job.duration) + ' of audio';
      showResult(job);
    } else if (job.status === 'failed') {
      setBar(jobBar, 0);
      jobText.textContent = 'failed';
      fail('The separation failed: ' + job.error, 'failed');
      return;
    }
    setState(job.status);
  }

  function showResult(job) {
    STEMS.forEach(function (stem) {
      var url = job.stems[stem];
      $('audio-' + stem).src = url;
      $('dl-' + stem).href = url + '?download=1';
    });
    if (window.remix) { window.remix.load(job.stems); }
    if (job.spectrogram) {
      $('spectrogram').src = job.spectrogram;
      $('spectrogram-figure').hidden = false;
    }
    result.hidden = false;
  }

  // -- drag and drop, and the file picker --------------------------------------------
  ['dragenter', 'dragover'].forEach(function (type) {
    drop.addEventListener(type, function (e) {
      e.preventDefault();
      if (e.dataTransfer) { e.dataTransfer.dropEffect = 'copy'; }
      drop.classList.add('over');
    });
  });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    var files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) { start(files[0]); }
  });
  // a file dropped next to the zone must not make the browser leave the page
  window.addEventListener('dragover', function (e) { e.preventDefault(); });
  window.addEventListener('drop', function (e) { e.preventDefault(); });

  drop.addEventListener('click', function (e) {
    if (e.target.tagName !== 'LABEL' && e.target !== input) { input.click(); }
  });
  drop.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
  });
  input.addEventListener('change', function () {
    if (input.files.length) { start(input.files[0]); }
    input.value = '';
  });
}());
