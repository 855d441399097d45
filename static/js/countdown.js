/* Counts down the time an unpaid booking stays reserved.
 *
 * The page renders the time left (mm:ss) on the server; this only keeps it
 * ticking. Each [data-countdown-seconds] element counts from the seconds the
 * server measured, so a wrong clock on the device does not matter. At zero it
 * shows its data-expired-text.
 */
(function () {
  "use strict";
  var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-countdown-seconds]"));
  if (!clocks.length) {
    return;
  }
  var started = Date.now();

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function format(seconds) {
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    return (hours ? hours + ":" + pad(minutes) : pad(minutes)) + ":" + pad(rest);
  }

  var timer = null;

  function tick() {
    var elapsed = Math.floor((Date.now() - started) / 1000);
    var running = false;
    clocks.forEach(function (clock) {
      var left = parseInt(clock.getAttribute("data-countdown-seconds"), 10) - elapsed;
      if (left > 0) {
        clock.textContent = format(left);
        running = true;
      } else {
        clock.textContent = clock.getAttribute("data-expired-text") || format(0);
      }
    });
    if (!running && timer !== null) {
      window.clearInterval(timer);
    }
  }

  timer = window.setInterval(tick, 1000);
  tick();
})();
