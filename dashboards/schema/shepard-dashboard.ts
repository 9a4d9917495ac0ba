// The type shepard's dashboards are checked against: Grafana's published dashboard model
// (`Dashboard` of @grafana/schema) with each panel's `options` and `fieldConfig.defaults.custom`
// narrowed to that panel plugin's published types, and shepard's conventions made required:
// a description and a unit on every panel, the datasource always the `$datasource` variable,
// a stable `uid`.
//
// The dashboards are JSON, where Grafana's string enums (e.g. `LegendDisplayMode.List`) appear
// as their values ("list"); `Json<T>` turns every enum in a type into the union of its values.

import type {
  Dashboard,
  DataQuery,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
  VariableModel,
} from '@grafana/schema';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type {
  FieldConfig as TableFieldConfig,
  Options as TableOptions,
} from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type {
  FieldConfig as TimeSeriesFieldConfig,
  Options as TimeSeriesOptions,
} from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/** A type as it is written in JSON: enums become the union of their values. */
export type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

/** Every panel and query reads from the data source the viewer picks. */
export interface DatasourceVariable {
  type: 'prometheus';
  uid: '${datasource}';
}

/**
 * A Prometheus query as Grafana's Prometheus data source stores it (its `dataquery` schema:
 * @grafana/schema publishes only the common part, `DataQuery`).
 */
export interface PrometheusQuery extends Omit<DataQuery, 'datasource'> {
  datasource: DatasourceVariable;
  expr: string;
  editorMode?: 'code' | 'builder';
  exemplar?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  instant?: boolean;
  interval?: string;
  intervalFactor?: number;
  legendFormat?: string;
  range?: boolean;
}

/** A field config whose unit is always stated. */
type Defaults<Custom> = Omit<FieldConfig, 'custom' | 'unit'> & { unit: string; custom?: Custom };

/** A panel of plugin `T` with that plugin's options and custom field config. */
type PanelOf<T extends string, Options, Custom> = Omit<
  Panel,
  'type' | 'options' | 'fieldConfig' | 'targets' | 'datasource' | 'description' | 'title'
> & {
  type: T;
  title: string;
  description: string;
  datasource: DatasourceVariable;
  options: Options;
  fieldConfig: Omit<FieldConfigSource, 'defaults'> & { defaults: Defaults<Custom> };
  targets: PrometheusQuery[];
};

export type ShepardPanel =
  | PanelOf<'timeseries', TimeSeriesOptions, TimeSeriesFieldConfig>
  | PanelOf<'stat', StatOptions, Record<string, never>>  // the stat panel has no custom field config
  | PanelOf<'table', TableOptions, TableFieldConfig>;

export type ShepardRow = Omit<RowPanel, 'panels'> & { panels: ShepardPanel[] };

/** A template variable; query variables read from the `$datasource` variable. */
export type ShepardVariable = Omit<VariableModel, 'datasource' | 'description'> & {
  description: string;
  datasource?: DatasourceVariable;
};

export type ShepardDashboard = Json<
  Omit<Dashboard, 'uid' | 'title' | 'description' | 'panels' | 'templating'> & {
    uid: string;
    title: string;
    description: string;
    panels: Array<ShepardPanel | ShepardRow>;
    templating: { list: ShepardVariable[] };
  }
>;
