/* The wall's push listener (registered in callbacks/wall/tick.py): an EventSource on the push stream whose "change"
   events bump the wall-push store, so the tick runs at once. No data travels on the stream: the tick sends it.
   The page's polling never stops, so a stream that fails costs only speed: it is tried again with a growing delay
   (up to a minute), quietly; a "reconnect" event (the stream's age reached) opens a new one at once.
   document.documentElement.dataset.wallPush says "open", "connecting" or "off". */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  wall_push: {
    listen: function (url) {
      var state = window.__wallPush || (window.__wallPush = { source: null, timer: null, delay: 0, rings: 0 });
      if (!url || state.source || state.timer) {
        return window.dash_clientside.no_update;
      }
      var mark = function (value) {
        document.documentElement.dataset.wallPush = value;
      };
      var onWall = function () {
        return document.getElementById("wall-root") !== null; // the wall page is shown
      };
      var ring = function () {
        state.rings += 1;
        window.dash_clientside.set_props("wall-push", { data: state.rings });
      };
      var stop = function () {
        if (state.source) {
          state.source.close();
          state.source = null;
        }
      };
      var later = function () {
        stop();
        mark("off");
        state.delay = Math.min(60000, Math.max(2000, state.delay * 2));
        state.timer = setTimeout(connect, state.delay + Math.floor(Math.random() * 1000));
      };
      var connect = function () {
        state.timer = null;
        if (!onWall()) {
          mark("off");
          return; // the wall was left: the listener starts again when it is shown
        }
        mark("connecting");
        var source = new EventSource(url);
        state.source = source;
        source.addEventListener("open", function () {
          state.delay = 0;
          mark("open");
          ring(); // whatever changed while the stream was away
        });
        source.addEventListener("change", function () {
          if (!onWall()) {
            stop();
            mark("off");
            return;
          }
          ring();
        });
        source.addEventListener("end", later);
        source.addEventListener("reconnect", function () {
          stop(); // the stream reached its age (or the viewer's workspace moved): a new one at once, maybe elsewhere
          connect();
        });
        source.onerror = function () {
          if (source.readyState === EventSource.CLOSED) {
            later(); // refused (signed out, full, push off): the polling goes on, a later try may succeed
          } else {
            mark("connecting"); // the browser reconnects by itself
          }
        };
      };
      connect();
      return window.dash_clientside.no_update;
    }
  }
});
