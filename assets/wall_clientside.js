/* Clientside callbacks of the wall (registered in callbacks/wall/tick.py): the server-unreachable watchdog and the
   alarm tone. Both work without a server round trip, so they keep working when the server does not answer. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  wall: {
    // Show the "lost contact" banner when no tick has come back for three refresh intervals; hide it on the next.
    watchdog: function (nIntervals, heartbeat, interval) {
      var now = Date.now();
      var state = window.__wallWatchdog || (window.__wallWatchdog = { lastTick: now });
      var ctx = window.dash_clientside.callback_context;
      var triggered = (ctx && ctx.triggered) || [];
      for (var i = 0; i < triggered.length; i++) {
        if (triggered[i].prop_id && triggered[i].prop_id.indexOf("heartbeat") !== -1) {
          state.lastTick = now;
        }
      }
      var limit = 3 * (interval || 2000);
      var stale = now - state.lastTick > limit;
      return "wall-banner wall-banner--stale" + (stale ? "" : " is-hidden");
    },

    // A short two-tone alarm made with WebAudio; browsers may refuse to play before a user gesture: that is fine.
    alarm: function (alarm) {
      if (!alarm) {
        return window.dash_clientside.no_update;
      }
      try {
        var AudioCtx = window.AudioContext || window.webkitAudioContext;
        if (!AudioCtx) {
          return window.dash_clientside.no_update;
        }
        var ctx = window.__wallAudio || (window.__wallAudio = new AudioCtx());
        var play = function () {
          var start = ctx.currentTime + 0.05;
          var gain = ctx.createGain();
          gain.connect(ctx.destination);
          gain.gain.setValueAtTime(0.0001, start);
          for (var i = 0; i < 6; i++) {
            var t0 = start + i * 0.28;
            var osc = ctx.createOscillator();
            osc.type = "square";
            osc.frequency.setValueAtTime(i % 2 ? 660 : 880, t0);
            osc.connect(gain);
            gain.gain.setValueAtTime(0.18, t0);
            gain.gain.setValueAtTime(0.0001, t0 + 0.24);
            osc.start(t0);
            osc.stop(t0 + 0.25);
          }
        };
        if (ctx.state === "suspended") {
          ctx.resume().then(play).catch(function () {});
        } else {
          play();
        }
      } catch (err) {
        /* autoplay blocked or no audio device: the banner and the map still take over */
      }
      return window.dash_clientside.no_update;
    }
  }
});
