// Sign-in for the tidygram ops page: the token (from the URL fragment,
// which browsers never send, or from the form) goes once to POST session
// as a bearer token; the answer sets an HttpOnly cookie and the page
// reloads without the fragment.
'use strict';
(() => {
  const form = document.getElementById('signin');
  const msg = document.getElementById('msg');

  async function signIn(token) {
    msg.textContent = 'signing in…';
    try {
      const r = await fetch('session', {method: 'POST', headers: {Authorization: 'Bearer ' + token},
        credentials: 'same-origin', cache: 'no-store'});
      if (r.status === 204) {
        location.replace(location.pathname);
        return;
      }
      msg.textContent = r.status === 401 ? 'Token refused.' : 'Sign-in failed: HTTP ' + r.status;
    } catch (e) {
      msg.textContent = 'Sign-in failed: ' + e.message;
    }
    document.body.dataset.signin = 'refused';
  }

  // fromFragment signs in with #token=… and takes it out of the address bar.
  function fromFragment() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!location.hash) return;
    history.replaceState(null, '', location.pathname + location.search);
    if (m) signIn(decodeURIComponent(m[1]));
  }

  form.addEventListener('submit', e => {
    e.preventDefault();
    signIn(form.elements.token.value.trim());
  });
  window.addEventListener('hashchange', fromFragment);
  fromFragment();
})();
