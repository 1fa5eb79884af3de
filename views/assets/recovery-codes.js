// Copy and Download buttons for recovery codes (views/recovery-code-list.eta). No inline script
// (CSP script-src 'self'): the codes are read from the page itself, nothing is fetched.
(function () {
  'use strict';
  function codes() {
    var nodes = document.querySelectorAll('.recovery-code');
    var out = [];
    for (var i = 0; i < nodes.length; i++) out.push(nodes[i].textContent.trim());
    return out;
  }
  function say(message) {
    var box = document.getElementById('recovery-codes-status');
    if (box) box.textContent = message;
  }
  function text() {
    return 'Latchkey recovery codes for ' + window.location.host + '\n' +
      'Each code works once.\n\n' + codes().join('\n') + '\n';
  }
  function copy() {
    if (!navigator.clipboard) return say('Select the codes and copy them.');
    navigator.clipboard.writeText(text()).then(function () { say('Copied.'); }, function () { say('Select the codes and copy them.'); });
  }
  function download() {
    var url = URL.createObjectURL(new Blob([text()], { type: 'text/plain' }));
    var link = document.createElement('a');
    link.href = url;
    link.download = 'latchkey-recovery-codes.txt';
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    say('Downloaded.');
  }
  document.addEventListener('DOMContentLoaded', function () {
    var buttons = document.querySelectorAll('[data-recovery-codes]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', function (event) {
        event.preventDefault();
        (event.currentTarget.getAttribute('data-recovery-codes') === 'copy' ? copy : download)();
      });
    }
  });
})();
