/* Waits for a QR-code payment (WeChat Pay Native) to be paid.
 *
 * The page names its charge's status URL (data-status-url) and where to go
 * once the charge is no longer open (data-next-url). This asks every few
 * seconds, more slowly after a while, and stops after half an hour; the
 * "I have paid" link does the same by hand when scripts are off.
 */
(function () {
  "use strict";
  var box = document.getElementById("wechat-pay");
  if (!box || !window.fetch) {
    return;
  }
  var statusUrl = box.getAttribute("data-status-url");
  var nextUrl = box.getAttribute("data-next-url");
  var started = Date.now();
  var LIMIT_MS = 30 * 60 * 1000;

  function delay() {
    return Date.now() - started < 2 * 60 * 1000 ? 2000 : 5000;
  }

  function ask() {
    if (Date.now() - started > LIMIT_MS) {
      return;
    }
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data && data.open === false) {
          window.location.assign(data.next_url || nextUrl);
          return;
        }
        window.setTimeout(ask, delay());
      })
      .catch(function () {
        window.setTimeout(ask, delay() * 2);
      });
  }

  window.setTimeout(ask, delay());
})();
