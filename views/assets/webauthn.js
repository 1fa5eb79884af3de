// Latchkey's WebAuthn buttons. No inline script (CSP script-src 'self'): each button carries
// its endpoints and CSRF token in data- attributes.
//   data-webauthn="register" | "authenticate"
//   data-options-url, data-verify-url, data-csrf, optional data-name-input (id of a text input)
(function () {
  'use strict';
  function show(button, message) {
    var box = document.getElementById(button.getAttribute('data-error') || 'webauthn-error');
    if (box) {
      box.textContent = message;
      box.className = 'error';
      box.hidden = false;
    }
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) throw new Error(json.error || 'The request failed.');
        return json;
      });
    });
  }
  function run(button) {
    var lib = window.SimpleWebAuthnBrowser;
    if (!lib || !window.PublicKeyCredential) return show(button, 'This browser does not support passkeys or security keys.');
    var csrf = button.getAttribute('data-csrf');
    var register = button.getAttribute('data-webauthn') === 'register';
    var nameInput = document.getElementById(button.getAttribute('data-name-input') || '');
    button.disabled = true;
    post(button.getAttribute('data-options-url'), csrf, {})
      .then(function (options) {
        return register ? lib.startRegistration({ optionsJSON: options }) : lib.startAuthentication({ optionsJSON: options });
      })
      .then(function (credential) {
        return post(button.getAttribute('data-verify-url'), csrf, { credential: credential, name: nameInput ? nameInput.value : '' });
      })
      .then(function (result) {
        window.location.assign(result.redirect);
      })
      .catch(function (error) {
        button.disabled = false;
        show(button, error && error.name === 'NotAllowedError' ? 'The request was cancelled or timed out.' : (error && error.message) || 'Something went wrong.');
      });
  }
  document.addEventListener('DOMContentLoaded', function () {
    var buttons = document.querySelectorAll('[data-webauthn]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', function (event) {
        event.preventDefault();
        run(event.currentTarget);
      });
    }
  });
})();
