/* Map styling for the wall, referenced from layouts/wall/city_map.py as {"variable": "wallMap.<name>"}.
   dash-leaflet calls each function with its usual Leaflet arguments followed by a context whose `hideout`
   holds the per-id states the server sends each tick ({"state": {id: state}, "focus": id}). */
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

  function stateOf(context, id) {
    var hideout = context && context.hideout;
    var states = hideout && hideout.state;
    return (states && states[id]) || "unknown";
  }

  function segmentStyle(feature, context) {
    var state = stateOf(context, feature.properties.id);
    return {
      className: "wall-seg wall-seg--" + state,
      weight: WEIGHT[state] || 3,
      opacity: 1,
      lineCap: "round",
      lineJoin: "round"
    };
  }

  function sensorPoint(feature, latlng, context) {
    var p = feature.properties;
    var state = stateOf(context, p.id);
    var focus = context && context.hideout && context.hideout.focus === p.id;
    var size = SIZE[p.kind] || 28;
    var icon = L.divIcon({
      className: "wall-marker",
      html: '<div class="wall-pin wall-pin--' + p.kind + " wall-state--" + state + (focus ? " is-focus" : "") +
        '">' + (GLYPH[p.kind] || "") + "</div>",
      iconSize: [size, size]
    });
    return L.marker(latlng, {
      icon: icon, keyboard: false, title: p.name, riseOnHover: true, zIndexOffset: (RANK[state] || 0) * 100 + (focus ? 5000 : 0)
    });
  }

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
