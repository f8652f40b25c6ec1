// Live refresh of the rollout list: every few seconds, ask for rows newer than the newest shown and
// put them on top. Served from /ui/static so that the page's CSP can forbid inline script.
(function () {
  "use strict";
  var table = document.getElementById("rollouts");
  if (!table || table.dataset.live !== "1") { return; }
  var body = table.tBodies[0];
  var after = parseInt(table.dataset.after || "0", 10);
  var query = table.dataset.query || "";
  var stopped = false;
  function poll() {
    if (stopped || document.hidden) { return; }
    var url = "rows?after=" + after + (query ? "&" + query : "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (resp) {
        if (resp.status === 401) { stopped = true; return ""; }
        return resp.ok ? resp.text() : "";
      })
      .then(function (html) {
        if (!html || !html.trim()) { return; }
        var tmp = document.createElement("tbody");
        tmp.innerHTML = html;
        var rows = Array.prototype.slice.call(tmp.querySelectorAll("tr.row"));
        rows.reverse().forEach(function (tr) {
          var id = parseInt(tr.dataset.id, 10);
          if (id > after) { after = id; }
          if (!body.querySelector('tr[data-id="' + id + '"]')) {
            tr.classList.add("fresh");
            body.insertBefore(tr, body.firstChild);
          }
        });
        var empty = document.querySelector(".empty");
        if (empty && body.rows.length) { empty.remove(); }
      })
      .catch(function () { /* a failed poll is retried on the next tick */ });
  }
  setInterval(poll, 3000);
})();
