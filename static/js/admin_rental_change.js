/* A rental's change page: on a narrow screen the ledger and event tables
 * scroll sideways; let the keyboard reach them too (WCAG 2.1.1). */
(function () {
  "use strict";
  document.querySelectorAll(".inline-group").forEach(function (group) {
    if (group.scrollWidth > group.clientWidth) {
      group.tabIndex = 0;
      group.setAttribute("role", "region");
      var heading = group.querySelector("h2");
      if (heading) { group.setAttribute("aria-label", heading.textContent.trim()); }
    }
  });
})();
