/* Map styling for the wall, referenced from layouts/wall/city_map.py as {"variable": "wallMap.<name>"}.
   Each layer's features come once, by URL; their states come with the tick as a change from the version this page
   holds ({"v", "base", "layers": {layer: {id: state}}, "focus"}: layouts/wall/city_map.py, map_delta), merged here
   by `merge` (a clientside callback). The style functions read the merged states, so a change restyles only the
   features it names; a clustered layer is redrawn (its clusters take the worst state inside) by bumping its
   hideout's count. dash-leaflet calls each function with its usual Leaflet arguments followed by a context whose
   `hideout` names the layer ({"layer": id, "clustered": bool, "n": count}). */
window.wallMap = (function () {
  "use strict";

  // How bad a state is (a cluster takes the worst state inside it), and segment line widths: declared once in
  // layouts/states.py and written into the page as window.iocStates before this file loads.
  var STATES = window.iocStates || { ranks: {}, weights: {} };
  var RANK = STATES.ranks;
  var WEIGHT = STATES.weights;
  var GLYPH = {
    traffic_camera: '<svg viewBox="0 0 24 24"><path d="M3 7h11a2 2 0 0 1 2 2v1.5l5-3v9l-5-3V15a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z"/></svg>',
    speed_camera: '<svg viewBox="0 0 24 24"><path d="M12 4a10 10 0 0 0-10 10h3a7 7 0 0 1 14 0h3A10 10 0 0 0 12 4zm4.6 4.2-5.3 4.6a1.8 1.8 0 1 0 2.4 2.4z"/></svg>',
    water_station: '<svg viewBox="0 0 24 24"><path d="M2 9c2.5 0 2.5-2 5-2s2.5 2 5 2 2.5-2 5-2 2.5 2 5 2v3c-2.5 0-2.5-2-5-2s-2.5 2-5 2-2.5-2-5-2-2.5 2-5 2zm0 7c2.5 0 2.5-2 5-2s2.5 2 5 2 2.5-2 5-2 2.5 2 5 2v3c-2.5 0-2.5-2-5-2s-2.5 2-5 2-2.5-2-5-2-2.5 2-5 2z"/></svg>',
    rain_gauge: '<svg viewBox="0 0 24 24"><path d="M12 2s7 8 7 13a7 7 0 0 1-14 0c0-5 7-13 7-13z"/></svg>',
    wifi_hotspot: '<svg viewBox="0 0 24 24"><path d="M12 18.5a2 2 0 1 1 0 4 2 2 0 0 1 0-4zM5.6 13.4a9 9 0 0 1 12.8 0l-2.1 2.1a6 6 0 0 0-8.6 0zM1.4 9.2a15 15 0 0 1 21.2 0l-2.1 2.1a12 12 0 0 0-17 0z"/></svg>'
  };
  var SIZE = { traffic_camera: 30, speed_camera: 28, water_station: 34, rain_gauge: 28, wifi_hotspot: 26 };

  var held = {}; // layer id -> {feature id -> state}: the merged states
  var heldVersion = null; // the version they are (what the next tick is told)
  var focus = null; // the station a takeover focuses on
  var drawn = {}; // layer id -> {feature id -> the Leaflet layer drawing it now}
  var applied = 0; // changes merged so far (tests and the benchmark read it)
  var colours = null;

  function layerOf(context) {
    return (context && context.hideout && context.hideout.layer) || "";
  }

  function stateOf(context, id) {
    var states = held[layerOf(context)];
    return (states && states[id]) || "unknown";
  }

  // A segment's colour on a canvas (an SVG path takes it from its class in wall.css, which wins over this).
  function colourOf(state) {
    if (colours === null) {
      colours = {};
      var style = window.getComputedStyle(document.documentElement);
      ["smooth", "slow", "congested", "unknown"].forEach(function (band) {
        colours[band] = style.getPropertyValue("--band-" + band).trim() || "#7f8c99";
      });
    }
    return colours[state] || colours.unknown;
  }

  function segmentStyle(feature, context) {
    var state = stateOf(context, feature.properties.id);
    return {
      className: "wall-seg wall-seg--" + state,
      color: colourOf(state),
      dashArray: state === "unknown" ? "2 8" : null,
      weight: WEIGHT[state] || 3,
      opacity: 1,
      lineCap: "round",
      lineJoin: "round"
    };
  }

  function sensorIcon(p, state, isFocus) {
    var size = SIZE[p.kind] || 28;
    return L.divIcon({
      className: "wall-marker",
      html: '<div class="wall-pin wall-pin--' + p.kind + " wall-state--" + state + (isFocus ? " is-focus" : "") +
        '">' + (GLYPH[p.kind] || "") + "</div>",
      iconSize: [size, size]
    });
  }

  function sensorZ(state, isFocus) {
    return (RANK[state] || 0) * 100 + (isFocus ? 5000 : 0);
  }

  function sensorPoint(feature, latlng, context) {
    var p = feature.properties;
    var state = stateOf(context, p.id);
    var isFocus = focus === p.id;
    return L.marker(latlng, {
      icon: sensorIcon(p, state, isFocus), keyboard: false, title: p.name, riseOnHover: true,
      zIndexOffset: sensorZ(state, isFocus)
    });
  }

  // Each feature's layer, kept by id so a change restyles it in place; its tooltip, as dash-leaflet's default does.
  function register(feature, layer, context) {
    var p = feature.properties || {};
    if (p.cluster) {
      return;
    }
    var name = layerOf(context);
    (drawn[name] || (drawn[name] = {}))[p.id] = layer;
    if (p.tooltip) {
      layer.bindTooltip(p.tooltip);
    }
  }

  function restyle(name, id) {
    var layer = drawn[name] && drawn[name][id];
    if (!layer || !layer.feature) {
      return;
    }
    var context = { hideout: { layer: name } };
    var state = stateOf(context, id);
    if (layer.setIcon) {
      var isFocus = focus === id;
      layer.setIcon(sensorIcon(layer.feature.properties, state, isFocus));
      layer.setZIndexOffset(sensorZ(state, isFocus));
    } else if (layer.setStyle) {
      layer.setStyle(segmentStyle(layer.feature, context));
      var path = layer.getElement && layer.getElement();
      if (path && path.getAttribute) { // SVG: Leaflet sets a path's class only when it is made
        path.setAttribute("class", String(path.getAttribute("class")).replace(/wall-seg--\S+/, "wall-seg--" + state));
      }
    }
  }

  var redraws = 0;

  var kept = []; // [version, states] of the last versions held: two ticks in flight may both be answered from one
  var KEPT = 4;

  function copyOf(states) {
    var copy = {};
    Object.keys(states).forEach(function (name) {
      copy[name] = Object.assign({}, states[name]);
    });
    return copy;
  }

  function statesAt(version) {
    if (version === heldVersion) {
      return held;
    }
    for (var i = 0; i < kept.length; i++) {
      if (kept[i][0] === version) {
        return kept[i][1];
      }
    }
    return null;
  }

  // Which features differ between two held maps, per layer.
  function differing(before, after) {
    var touched = {};
    Object.keys(before).concat(Object.keys(after)).forEach(function (name) {
      if (touched[name]) {
        return;
      }
      var a = before[name] || {};
      var b = after[name] || {};
      touched[name] = Object.keys(a).concat(Object.keys(b)).filter(function (id) {
        return a[id] !== b[id];
      });
    });
    return touched;
  }

  /* Apply one change from the tick (the `data-delta` of #wall-map-delta, JSON): merge it into the states of the
     version it is from, restyle the features whose state differs from what is drawn, redraw the clustered layers it
     touches (their hideout's count, set through Dash). A change from a version this page no longer has (it should
     not happen: the wall's store and the change travel in one response) makes the page start from nothing. */
  function apply(carrier) {
    var text = carrier.getAttribute("data-delta");
    var delta = null;
    try {
      delta = text ? JSON.parse(text) : null;
    } catch (error) {
      delta = null;
    }
    if (!delta || typeof delta !== "object" || !delta.layers || delta.v === heldVersion) {
      return;
    }
    var whole = delta.base === null || delta.base === undefined;
    var base = whole ? {} : statesAt(delta.base);
    if (base === null) {
      resync();
      return;
    }
    var next = copyOf(base);
    Object.keys(delta.layers).forEach(function (name) {
      var states = next[name] || (next[name] = {});
      var changes = delta.layers[name];
      Object.keys(changes).forEach(function (id) {
        if (changes[id] === "unknown") {
          delete states[id];
        } else {
          states[id] = changes[id];
        }
      });
    });
    var touched = differing(held, next);
    var newFocus = delta.focus || null;
    if (newFocus !== focus) {
      Object.keys(drawn).forEach(function (name) { // the focused station's layer is restyled too
        if (drawn[name][focus] || drawn[name][newFocus]) {
          (touched[name] || (touched[name] = [])).push(focus, newFocus);
        }
      });
      focus = newFocus;
    }
    kept.unshift([heldVersion, held]);
    kept.length = Math.min(kept.length, KEPT);
    held = next;
    heldVersion = delta.v;
    applied += 1;
    var clustered = (carrier.getAttribute("data-clustered") || "").split(" ");
    Object.keys(touched).forEach(function (name) {
      if (!touched[name].length) {
        return;
      }
      if (clustered.indexOf(name) !== -1) {
        redraws += 1;
        window.dash_clientside.set_props(name, { hideout: { layer: name, clustered: true, n: redraws } });
        return;
      }
      for (var i = 0; i < touched[name].length; i++) {
        restyle(name, touched[name][i]);
      }
    });
  }

  // The wall's store is emptied: the next tick sends everything again, the whole map with it.
  function resync() {
    window.dash_clientside.set_props("wall-client", { data: null });
  }

  // Each change the tick sets is applied once: when the element's attribute changes, when the element itself is made
  // again (a page rendered afresh), and, should either go unnoticed, at the next check of the clock.
  var lastText = "";
  function check() {
    var carrier = document.getElementById("wall-map-delta");
    var text = carrier ? carrier.getAttribute("data-delta") || "" : "";
    if (text && text !== lastText) {
      lastText = text;
      apply(carrier);
    }
  }
  if (window.MutationObserver) {
    new MutationObserver(check).observe(document.documentElement, {
      attributes: true, attributeFilter: ["data-delta"], childList: true, subtree: true
    });
  }
  window.setInterval(check, 1000);

  function clusterIcon(feature, latlng, index, context) {
    var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
    var worst = "unknown";
    var kind = leaves.length ? leaves[0].properties.kind : "";
    for (var i = 0; i < leaves.length; i++) {
      var state = stateOf(context, leaves[i].properties.id);
      if ((RANK[state] || 0) > (RANK[worst] || 0)) {
        worst = state;
      }
    }
    var count = feature.properties.point_count;
    var size = count < 10 ? 36 : count < 100 ? 42 : 50;
    var icon = L.divIcon({
      className: "wall-marker",
      html: '<div class="wall-cluster wall-pin--' + kind + " wall-state--" + worst + '"><span>' +
        feature.properties.point_count_abbreviated + "</span></div>",
      iconSize: [size, size]
    });
    return L.marker(latlng, { icon: icon, keyboard: false, zIndexOffset: (RANK[worst] || 0) * 100 });
  }

  // What the page holds now, for tests and the benchmark: the version, changes merged, features drawn per layer.
  function status() {
    var counts = {};
    Object.keys(drawn).forEach(function (name) {
      counts[name] = Object.keys(drawn[name]).length;
    });
    return { version: heldVersion, applied: applied, drawn: counts, held: held };
  }

  // The offline basemap: muted land, water and roads; ward names as labels.
  var BASE = {
    outline: { color: "#5a6878", weight: 2, fill: true, fillColor: "#121a23", fillOpacity: 1, dashArray: "6 6" },
    ward: { color: "#2f3b49", weight: 1, fill: false, dashArray: "3 6" },
    water: { stroke: false, fill: true, fillColor: "#13324a", fillOpacity: 1 },
    river: { color: "#1d4d70", weight: 4, fill: false },
    coast: { color: "#2a6a93", weight: 2, fill: false },
    road: { color: "#2b3644", weight: 2, fill: false }
  };

  function basemapStyle(feature) {
    var p = feature.properties || {};
    var style = BASE[p.kind || p.layer || p.type] || { color: "#2b3644", weight: 1, fill: false };
    return Object.assign({ interactive: false }, style);
  }

  function basemapPoint(feature, latlng) {
    var p = feature.properties || {};
    var text = String(p.name || p.label || "").replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
    return L.marker(latlng, {
      icon: L.divIcon({ className: "wall-label", html: "<span>" + text + "</span>", iconSize: [0, 0] }),
      interactive: false, keyboard: false
    });
  }

  return {
    segmentStyle: segmentStyle,
    sensorPoint: sensorPoint,
    clusterIcon: clusterIcon,
    register: register,
    status: status,
    basemapStyle: basemapStyle,
    basemapPoint: basemapPoint
  };
})();

/* Leaflet only notices window resizes; the map's box also changes when a banner comes or goes. Tell it. */
(function () {
  "use strict";
  if (!window.ResizeObserver || !window.MutationObserver) {
    return;
  }
  var resize = new ResizeObserver(function () {
    window.dispatchEvent(new Event("resize"));
  });
  var watched = new WeakSet();
  var watch = function () {
    var boxes = document.querySelectorAll(".wall-map-wrap");
    for (var i = 0; i < boxes.length; i++) {
      if (!watched.has(boxes[i])) {
        watched.add(boxes[i]);
        resize.observe(boxes[i]);
      }
    }
  };
  new MutationObserver(watch).observe(document.documentElement, { childList: true, subtree: true });
})();
