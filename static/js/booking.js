/* Live price breakdown of the booking form.
 *
 * Asks the server (rentals:quote, the same rentals.pricing.quote the booking
 * uses) and shows its ready-formatted amounts, so no money is computed here.
 */
(function () {
  "use strict";
  var form = document.getElementById("booking-form");
  var card = document.getElementById("price-breakdown");
  if (!form || !card) return;
  var url = form.getAttribute("data-quote-url");
  var fields = ["start_time", "end_time", "pickup_location", "return_location"];
  var errorsBox = card.querySelector("[data-quote-errors]");
  var hint = card.querySelector("[data-quote-hint]");
  var takenBox = card.querySelector("[data-quote-taken]");
  var applyButton = card.querySelector("[data-quote-apply]");
  var submitButton = document.getElementById("book-submit");
  var nextFree = null;
  var timer = null;
  var sequence = 0;

  function setText(name, value) {
    card.querySelectorAll('[data-quote="' + name + '"]').forEach(function (el) {
      el.textContent = value;
    });
  }

  var cancellationBox = card.querySelector("[data-quote-cancellation]");

  /* What cancelling would cost for these times (the server's sentence, SPEC §19). */
  function showCancellation(cancellation) {
    if (cancellationBox) cancellationBox.textContent = cancellation ? cancellation.text : "";
  }

  function clearAmounts() {
    showCancellation(null);
    ["base_rent", "discount_amount", "total_amount", "deposit", "cross_location_fee", "order_total"].forEach(
      function (name) { setText(name, "–"); }
    );
    ["rent_label", "discount_label"].forEach(function (name) {
      card.querySelectorAll('[data-quote="' + name + '"]').forEach(function (el) {
        el.textContent = el.getAttribute("data-default");
      });
    });
  }

  function showErrors(messages) {
    if (!messages || !messages.length) {
      errorsBox.classList.add("d-none");
      errorsBox.textContent = "";
      return;
    }
    errorsBox.textContent = messages.join(" ");
    errorsBox.classList.remove("d-none");
  }

  /* Taken dates: say so instead of a price, and offer the next free period
   * of the same length (computed by the server) with a button to use it. */
  function showTaken(taken) {
    nextFree = taken ? taken.next_free : null;
    if (!takenBox) return;
    if (!taken) {
      takenBox.classList.add("d-none");
      if (submitButton) submitButton.disabled = false;
      return;
    }
    takenBox.querySelector("[data-quote-taken-message]").textContent = taken.message;
    takenBox.querySelector("[data-quote-next-free]").textContent = taken.next_free ? taken.next_free.text : "";
    if (applyButton) applyButton.classList.toggle("d-none", !taken.next_free);
    takenBox.classList.remove("d-none");
    if (submitButton) submitButton.disabled = true;
  }

  if (applyButton) {
    applyButton.addEventListener("click", function () {
      if (!nextFree) return;
      form.elements.start_time.value = nextFree.start_time;
      form.elements.end_time.value = nextFree.end_time;
      form.elements.start_time.focus();
      refresh();
    });
  }

  function refresh() {
    var params = new URLSearchParams();
    for (var i = 0; i < fields.length; i++) {
      var input = form.elements[fields[i]];
      if (!input || !input.value) {
        clearAmounts();
        showErrors([]);
        showTaken(null);
        if (hint) hint.classList.remove("d-none");
        return;
      }
      params.append(fields[i], input.value);
    }
    var mine = ++sequence;
    card.setAttribute("aria-busy", "true");
    fetch(url + "?" + params.toString(), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== sequence) return; // an older answer arriving late
        card.removeAttribute("aria-busy");
        if (!data.ok) {
          clearAmounts();
          showTaken(null);
          showErrors(data.errors);
          card.setAttribute("data-quote-state", "error");
          return;
        }
        showErrors([]);
        if (hint) hint.classList.add("d-none");
        if (!data.available) {
          clearAmounts();
          showTaken(data.taken);
          card.setAttribute("data-quote-state", "taken");
          card.removeAttribute("data-order-total");
          return;
        }
        showTaken(null);
        Object.keys(data.display).forEach(function (name) { setText(name, data.display[name]); });
        setText("discount_amount", data.amounts.discount_amount === "0.00" ? data.display.discount_amount : "−" + data.display.discount_amount);
        setText("rent_label", data.rent_label);
        setText("discount_label", data.discount_label);
        setText("member_level_label", data.member_level_label);
        showCancellation(data.cancellation);
        card.setAttribute("data-quote-state", "ok");
        card.setAttribute("data-order-total", data.amounts.order_total);
      })
      .catch(function () {
        if (mine !== sequence) return;
        card.removeAttribute("aria-busy");
        card.setAttribute("data-quote-state", "error");
      });
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }

  fields.forEach(function (name) {
    var input = form.elements[name];
    if (!input) return;
    input.addEventListener("change", schedule);
    input.addEventListener("input", schedule);
  });
  refresh();
})();
